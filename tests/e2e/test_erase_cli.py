"""``salesengine erase SUBJECT`` as a data-protection officer runs it: the receipt, what
every reader shows afterwards, the confirmation it needs (--yes, or yes at a terminal),
and each refusal: one line naming the subject, a non-zero exit, nothing changed."""

from __future__ import annotations

import functools
import os
import pty
import select
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from salesengine.application.erasure import SYNTAX
from salesengine.cli import erase as cli_erase
from salesengine.domain.personal import ERASED
from tests.support.cli_runner import CLI, Run

NOTE = "Wang Wei wants the budget by Friday"


def ok(run: Run) -> Run:
    assert run.code == 0, run.err
    return run


@pytest.fixture
def acme(cli: CLI) -> CLI:
    """Account ACME with contact wang, an activity he attended with a note, and deal D1
    with a visit naming him."""
    ok(cli("account", "open", "ACME", "--owner", "zhou", "--at", "2026-01-05"))
    ok(cli("account", "contact", "add", "ACME", "wang", "--name", "Wang Wei", "--title", "CIO",
           "--role", "decision_maker", "--at", "2026-01-06"))  # fmt: skip
    ok(cli("account", "activity", "ACME", "--kind", "call", "--attendee", "wang",
           "--note", NOTE, "--at", "2026-01-07"))  # fmt: skip
    ok(cli("deal", "open", "D1", "--policy", "funnel-list", "--account", "ACME",
           "--at", "2026-01-08"))  # fmt: skip
    ok(cli("deal", "visit", "D1", "--attendee", "Wang Wei", "--note", NOTE, "--at", "2026-01-09"))
    return cli


def stored(tmp_path: Path) -> tuple[int, int]:
    """How many events and subjects' keys the store holds."""
    with sqlite3.connect(tmp_path / "store.db") as db:
        events = db.execute("SELECT count(*) FROM stored_events").fetchone()[0]
        keys = db.execute("SELECT count(*) FROM salesengine_personal_keys").fetchone()[0]
    return events, keys


def contact_wang(cli: CLI) -> dict[str, object]:
    view = ok(cli("account", "show", "ACME", "--json")).json()["account"]
    found: dict[str, object] = next(c for c in view["contacts"] if c["contact"] == "wang")
    return found


def test_erasing_a_contact_prints_its_receipt_and_every_reader_shows_erased(
    acme: CLI, tmp_path: Path
) -> None:
    events, keys = stored(tmp_path)
    assert contact_wang(acme)["name"] == "Wang Wei"

    done = acme("--by", "dpo", "erase", "contact:ACME/wang", "--yes", "--json")

    assert done.code == 0, done.err
    receipt = done.json()
    assert receipt["subject"] == "contact:ACME/wang"
    assert (receipt["kind"], receipt["by"]) == ("contact", "dpo")
    assert receipt["keys_deleted"] == len(receipt["key_ids"]) == 1
    assert len(receipt["erasure_id"]) == 32 and receipt["recorded_at"].startswith("20")
    assert stored(tmp_path) == (events + 1, keys - 1)  # the erasure event; one key gone
    contact = contact_wang(acme)
    assert (contact["name"], contact["title"]) == (ERASED, ERASED)
    assert contact["role"] == "decision_maker"  # what is not personal stays
    activity = ok(acme("account", "history", "ACME", "--json")).json()
    assert NOTE not in str(activity) and ERASED in str(activity)
    # The visit named "Wang Wei" as written, another subject: still there.
    history = ok(acme("history", "D1", "--json")).json()
    visit = next(e for e in history["events"] if e["type"] == "VisitLogged")
    assert (visit["data"]["attendees"], visit["data"]["note"]) == (["Wang Wei"], NOTE)
    # The chain covers the events as stored, encrypted: it holds, the erasure in it.
    verified = ok(acme("audit", "verify", "--json")).json()
    assert (verified["holds"], verified["size"]) == (True, events + 1)


def test_on_either_store_an_erased_contact_reads_erased_and_a_refusal_changes_nothing(
    cli: CLI, store_url: str
) -> None:
    run = functools.partial(cli, db_url=store_url)
    ok(run("account", "open", "ACME", "--owner", "zhou", "--at", "2026-01-05"))
    ok(run("account", "contact", "add", "ACME", "wang", "--name", "Wang Wei",
           "--role", "decision_maker", "--at", "2026-01-06"))  # fmt: skip
    refused = run("erase", "contact:ACME/wang")  # no --yes, no terminal
    assert refused.code == 2 and "pass --yes" in refused.err
    assert contact_wang(run)["name"] == "Wang Wei"

    done = ok(run("erase", "contact:ACME/wang", "--yes", "--json")).json()

    assert (done["kind"], done["keys_deleted"], done["by"]) == ("contact", 1, "auditor-test")
    assert contact_wang(run)["name"] == ERASED
    again = run("erase", "contact:ACME/wang", "--yes")
    assert again.code == 1 and "nothing is stored encrypted for contact:ACME/wang" in again.err


def test_erasing_a_person_prints_a_readable_receipt(acme: CLI) -> None:
    done = acme("erase", "person:Wang Wei", "--yes")

    assert done.code == 0, done.err
    lines = done.out.splitlines()
    assert lines[0] == "erased person:Wang Wei (person): 1 key deleted"
    assert lines[1].startswith("  key ") and len(lines[1].split()[1]) == 32
    assert lines[2].startswith("erasure ") and lines[2].endswith(" by auditor-test")
    history = ok(acme("history", "D1", "--json")).json()
    visit = next(e for e in history["events"] if e["type"] == "VisitLogged")
    assert (visit["data"]["attendees"], visit["data"]["note"]) == ([ERASED], ERASED)
    assert "Wang Wei" not in ok(acme("history", "D1")).out


def test_without_yes_and_without_a_terminal_it_refuses_and_changes_nothing(
    acme: CLI, tmp_path: Path
) -> None:
    before = stored(tmp_path)

    refused = acme("erase", "contact:ACME/wang")

    assert refused.code == 2
    assert refused.out == ""
    assert refused.err.splitlines() == [
        "error: not erased: erasing contact:ACME/wang cannot be undone; pass --yes to erase "
        "it (nothing was changed)"
    ]
    assert stored(tmp_path) == before
    assert contact_wang(acme)["name"] == "Wang Wei"


def at_a_terminal(tmp_path: Path, answer: str, *args: str) -> tuple[int, str]:
    """``salesengine ARGS`` with a terminal as standard input and error: the prompt is
    waited for, ``answer`` typed; the exit status and what the terminal showed."""
    controller, terminal = pty.openpty()
    env = {
        **os.environ,
        "SALESENGINE_DB": str(tmp_path / "store.db"),
        "SALESENGINE_ACTOR": "dpo",
        "COLUMNS": "200",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "salesengine", *args],
        stdin=terminal,
        stdout=subprocess.DEVNULL,
        stderr=terminal,
        env=env,
        cwd=tmp_path,
    )
    os.close(terminal)
    shown = b""
    deadline = time.monotonic() + 60
    answered = False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the command ended and closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        if not answered and b"cannot be undone" in shown:
            os.write(controller, answer.encode() + b"\n")
            answered = True
        if proc.poll() is not None and not ready:
            break
    os.close(controller)
    return proc.wait(timeout=60), shown.decode(errors="replace")


def test_at_a_terminal_it_asks_and_only_yes_erases(acme: CLI, tmp_path: Path) -> None:
    before = stored(tmp_path)

    code, shown = at_a_terminal(tmp_path, "n", "erase", "contact:ACME/wang")

    assert "Erase the personal data of contact:ACME/wang? It cannot be undone" in shown
    assert code == 1 and "not erased: contact:ACME/wang (nothing was changed)" in shown
    assert stored(tmp_path) == before

    code, shown = at_a_terminal(tmp_path, "y", "erase", "contact:ACME/wang")

    assert code == 0, shown
    assert stored(tmp_path) == (before[0] + 1, before[1] - 1)
    assert contact_wang(acme)["name"] == ERASED


@pytest.mark.parametrize(
    ("subject", "code", "message"),
    [
        ("Wang Wei", 2, f"subject 'Wang Wei' is not one of {SYNTAX}"),
        ("planet:Earth", 2, f"subject 'planet:Earth' is not one of {SYNTAX}"),
        (
            "contact:wang",
            2,
            "subject 'contact:wang': a contact is named contact:ACCOUNT/CONTACT",
        ),
        ("deal:NO-SUCH", 1, "cannot erase deal:NO-SUCH: unknown deal 'NO-SUCH'"),
        ("account:NO-SUCH", 1, "cannot erase account:NO-SUCH: unknown account 'NO-SUCH'"),
        (
            "contact:ACME/nobody",
            1,
            "cannot erase contact:ACME/nobody: account 'ACME' has no contact 'nobody'",
        ),
        ("person:Nobody", 1, "nothing is stored encrypted for person:Nobody: "),
    ],
)
def test_each_refusal_is_one_line_naming_the_subject_and_changes_nothing(
    acme: CLI, tmp_path: Path, subject: str, code: int, message: str
) -> None:
    before = stored(tmp_path)

    refused = acme("erase", subject, "--yes", "--json")

    assert refused.code == code
    assert refused.out == ""
    lines = refused.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), refused.err
    assert subject in lines[0]
    assert stored(tmp_path) == before


def test_erasing_twice_finds_nothing_the_second_time(acme: CLI, tmp_path: Path) -> None:
    ok(acme("erase", "deal:D1", "--yes"))
    after = stored(tmp_path)

    again = acme("erase", "deal:D1", "--yes")

    assert again.code == 1 and "nothing is stored encrypted for deal:D1" in again.err
    assert stored(tmp_path) == after


def test_a_store_that_is_not_there_is_named_and_not_made(cli: CLI, tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"

    refused = cli("erase", "person:Wang Wei", "--yes", db_url=str(missing))

    assert refused.code == 2 and "typo.db" in refused.err
    assert not missing.exists()


def test_the_help_names_the_forms_of_a_subject_as_the_application_reads_them() -> None:
    assert cli_erase.SYNTAX == SYNTAX
