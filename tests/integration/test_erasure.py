"""Erasing personal data (crypto-shredding), on SQLite and PostgreSQL: every figure and
every chain the same before and after, the erasure in the chain with no personal data
in it, and no erased value left anywhere in the store.

The history (tests/support/personal_data.py) has personal values of every kind; the
four erasures name a contact, a person, a deal's record and an account's record.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from salesengine import audit_verifier
from salesengine.application.accounts import Accounts
from salesengine.application.engine import SalesEngine
from salesengine.application.erasure import NothingToErase, erase
from salesengine.bootstrap import build_engine
from tests.support.audit import both_verdicts, export_text
from tests.support.cli_runner import salesengine
from tests.support.clock import Clock
from tests.support.personal_data import (
    ALL_VALUES,
    ERASED_VALUES,
    ERASURES,
    IGNATIUS,
    KEPT_VALUES,
    PLAIN_VALUES,
    ZELDA,
    erase_all,
    event_states,
    figures,
    read_models,
    sqlite_files,
    store_bytes,
    stored_keys,
    where_found,
    write_personal_history,
)
from tests.support.stores import StoreFactory

ERASURE_TOPIC = "salesengine.domain.erasure:Erasure.Recorded"


@pytest.fixture
def engine(make_engine: StoreFactory) -> SalesEngine:
    engine = make_engine()
    write_personal_history(engine)
    return engine


def chain_entries(url: str) -> list[dict[str, object]]:
    return [
        line["event"]
        for line in map(json.loads, export_text(url).splitlines())
        if line["kind"] == "entry"
    ]


def test_erasure_leaves_every_figure_and_every_chain_as_it_was(
    engine: SalesEngine, store_url: str
) -> None:
    with read_models(engine, store_url) as models:
        before = figures(models.caught_up())
        in_store, standalone = both_verdicts(store_url)
        assert in_store.report.holds and standalone.holds
        assert in_store.report.root == standalone.root
        entries = in_store.report.entries

        erased = erase_all(engine)

        after = figures(models.caught_up())
        rebuilt = figures(models.rebuilt())  # replayed from events whose values read erased
    # The figures are not empty: the history moved deals through stages, won and lost.
    assert any(row.deals for row in before["funnel None 8"])
    assert any(row.cohort for row in before["conversion None 0"])
    assert before["forecast None 8"].weighted_pipeline
    assert after == before
    assert rebuilt == before

    in_store, standalone = both_verdicts(store_url)
    assert in_store.report.holds and standalone.holds, (in_store, standalone)
    assert in_store.report.root == standalone.root
    assert in_store.report.entries == standalone.entries == entries + len(ERASURES)

    # Each erasure is one event in the chain, naming its subjects by their opaque ids.
    recorded = [e for e in chain_entries(store_url) if e["topic"] == ERASURE_TOPIC]
    assert [e["aggregate"] for e in recorded] == [r.erasure for r in erased]
    for event, done in zip(recorded, erased, strict=True):
        state = json.loads(str(event["state"]))
        assert state["kind"] == done.kind and state["actor"] == "dpo"
        assert state["subjects"] == done.subjects and len(done.subjects) >= 1
        assert where_found({"erasure": str(event["state"]).encode()}, ALL_VALUES) == {}
    kinds = {r.kind for r in erased}
    assert kinds == {"contact", "person", "deal", "account"}
    # The person was named on an account's activity and on deals' visits: two subjects.
    assert len(next(r for r in erased if r.kind == "person").subjects) == 2


def test_personal_values_are_stored_sealed_and_the_rest_as_written(
    engine: SalesEngine, store_url: str
) -> None:
    states = {f"event {n}": state for n, state in enumerate(event_states(store_url))}
    assert where_found(states, ALL_VALUES) == {}
    assert sorted(where_found(states, PLAIN_VALUES)) == sorted(PLAIN_VALUES)
    # ...and read back as written, through the engine.
    contact = Accounts(engine).state("ACME").contacts["c1"]
    assert contact.name == ZELDA
    visit = next(e for e in engine.history("D1").events if e.type == "VisitLogged")
    assert visit.data["attendees"][0] == IGNATIUS


def test_after_erasure_no_erased_value_nor_key_is_left_in_the_store(
    engine: SalesEngine, store_url: str
) -> None:
    keys_before = stored_keys(engine)
    erased = erase_all(engine)
    gone = {s for r in erased for s in r.subjects}
    assert gone <= set(keys_before)
    found = store_bytes(store_url)
    if "://" not in store_url:  # the database file itself; the WAL is its own test below
        found = {store_url: found[store_url]}
    assert where_found(found, ERASED_VALUES) == {}
    for subject in gone:
        key = keys_before[subject]
        assert not any(key in data for data in found.values()), f"the key of {subject} is left"
    # The values of the subjects not erased are still there, sealed, and read as written.
    states = {f"event {n}": state for n, state in enumerate(event_states(store_url))}
    assert where_found(states, KEPT_VALUES) == {}
    remaining = set(stored_keys(engine))
    assert remaining == set(keys_before) - gone and remaining


def test_after_erasure_and_a_checkpoint_the_sqlite_wal_holds_no_erased_value_nor_key(
    tmp_path: Path, clock: Clock
) -> None:
    store_url = str(tmp_path / "store.db")
    engine = build_engine(store_url, clock=clock, actor="tester")
    try:
        write_personal_history(engine)
        keys_before = stored_keys(engine)
        erased = erase_all(engine)
        # The store is open (a service, a relay): its write-ahead log is there. (Were
        # it not, nothing would be found and this test would pass.)
        files = sqlite_files(store_url)
    finally:
        engine.close()
    wal = {name: data for name, data in files.items() if name.endswith("-wal")}
    left = [
        f"the key of {s}"
        for r in erased
        for s in r.subjects
        if keys_before[s] in b"".join(wal.values())
    ]
    left += list(where_found(wal, ERASED_VALUES))
    assert left == []


@pytest.mark.parametrize("subject", [*ERASURES, "person:Nobody Atall"])
def test_erasing_a_subject_with_nothing_left_is_refused_and_records_nothing(
    engine: SalesEngine, store_url: str, subject: str
) -> None:
    if subject in ERASURES:
        erase(engine, subject, actor="dpo")
    entries = len(chain_entries(store_url))
    with pytest.raises(NothingToErase):
        erase(engine, subject, actor="dpo")
    assert len(chain_entries(store_url)) == entries


@pytest.mark.slow
def test_a_checkpoint_signed_before_erasure_still_verifies_after_it_in_the_store_and_alone(
    engine: SalesEngine, store_url: str, tmp_path: Path
) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {"SALESENGINE_DB": store_url, "SALESENGINE_ACTOR": "t"}
        done = salesengine(*args, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    run("audit", "key", "generate", "--out", "audit.key", "--name", "auditor")
    run("audit", "checkpoint", "--key", "audit.key", "--out", "before.txt")
    erase_all(engine)
    held = json.loads(run("audit", "verify", "--public-key", "audit.key.pub", "--json").stdout)
    assert (held["holds"], held["checkpoints"]) == (True, 1)
    run("audit", "export", "log.jsonl")
    exported = (tmp_path / "log.jsonl").read_text(encoding="utf-8")
    assert ERASURE_TOPIC in exported
    assert where_found({"export": exported.encode()}, ALL_VALUES) == {}
    # The standalone verifier, a lone copy of its file, on the export.
    copy = tmp_path / "audit_verifier.py"
    copy.write_text(Path(audit_verifier.__file__).read_text(encoding="utf-8"), encoding="utf-8")
    runner = (
        "import runpy, sys; sys.modules['salesengine'] = None; "
        "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    command = [sys.executable, "-I", "-c", runner, str(copy), "log.jsonl"]
    command += ["--public-key", "audit.key.pub", "--json"]
    alone = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    verdict = json.loads(alone.stdout)
    assert (verdict["holds"], verdict["checkpoints"]) == (True, 1)
    assert (verdict["size"], verdict["root"]) == (held["size"], held["root"])
