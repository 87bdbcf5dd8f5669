"""End to end: the command line as writers, managers and auditors use it."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.cli_inputs import NOW, OPENING, iso
from tests.support.cli_runner import CLI, write_jsonl
from tests.support.services import PG_URL


def stored_events(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])


CIO_VISIT = {
    "cmd": "visit",
    "deal": "ACME-1",
    "at": iso(6),
    "effective": True,
    "attendees": ["王总"],
    "note": "CIO meeting",
}


def sample_file(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "deals.jsonl",
        [
            {
                "cmd": "open",
                "deal": "ACME-1",
                "policy": "five-level",
                "at": iso(0),
                "by": "Li Wei",
                "account": "华信钢铁",
                "owner": "Li Wei",
                "team": "North 华北",
                "amount": "1200000",
                "facts": OPENING,
            },
            {"cmd": "advance", "deal": "ACME-1", "to": "contacted", "at": iso(1)},
            {"cmd": "fact", "deal": "ACME-1", "name": "decision_makers_identified", "at": iso(2)},
            {"cmd": "fact", "deal": "ACME-1", "name": "key_needs_confirmed", "at": iso(2)},
            "",
            {"cmd": "fact", "deal": "ACME-1", "name": "meetings_recorded", "at": iso(3)},
            {"cmd": "advance", "deal": "ACME-1", "to": "contacted", "at": iso(4)},
            '{"cmd": "visit", "deal": "ACME-1", "at": ',
            {"cmd": "visit", "deal": "ACME-1", "at": "2026-01-05T10:00:00", "effective": True},
            {"cmd": "visit", "deal": "NOPE-9", "at": iso(5)},
            {"cmd": "amount", "deal": "ACME-1", "amount": "-3", "at": iso(5)},
            # The same visit twice: two identical lines are two events.
            CIO_VISIT,
            CIO_VISIT,
        ],
    )


def test_import_applies_good_lines_and_names_every_refused_line(cli: CLI, tmp_path: Path) -> None:
    result = cli("import", str(sample_file(tmp_path)))
    assert result.code == 1
    refused = [line for line in result.err.splitlines() if "refused" in line]
    assert len(refused) == 5
    assert (
        ":2: refused: entry criteria for 'contacted' not met: missing "
        "decision_makers_identified, key_needs_confirmed, meetings_recorded" in result.err
    )
    assert ":8: refused: not valid JSON" in result.err
    assert ":9: refused: field 'at': Input should have timezone info" in result.err
    assert ":10: refused: unknown deal 'NOPE-9'" in result.err
    assert ":11: refused: field 'amount': Input should be greater than or equal to 0" in result.err
    assert "7 applied, 0 already applied, 5 refused (13 lines, 1 blank)" in result.out
    assert stored_events(tmp_path / "store.db") == 7


def test_reimporting_the_same_file_writes_nothing_new(cli: CLI, tmp_path: Path) -> None:
    path = sample_file(tmp_path)
    cli("import", str(path))
    before = stored_events(tmp_path / "store.db")
    again = cli("import", str(path))
    assert "0 applied, 7 already applied, 5 refused" in again.out
    assert stored_events(tmp_path / "store.db") == before
    # Identical lines are distinct occurrences: both visits were kept the first time.
    history = cli("history", "ACME-1", "--json").json()
    assert [e["type"] for e in history["events"]].count("VisitLogged") == 2


def test_import_with_workers_reports_what_one_process_reports(cli: CLI, tmp_path: Path) -> None:
    path = sample_file(tmp_path)
    single = cli("import", str(path), "--workers", "1", db_url=str(tmp_path / "one.db"))
    shared = cli("import", str(path), "--workers", "3")
    assert shared.code == single.code == 1
    assert shared.out == single.out
    assert sorted(shared.err.splitlines()) == sorted(single.err.splitlines())
    assert stored_events(tmp_path / "store.db") == stored_events(tmp_path / "one.db") == 7


def test_workers_cannot_share_an_in_memory_store(cli: CLI, tmp_path: Path) -> None:
    result = cli("import", str(sample_file(tmp_path)), "--workers", "2", db_url=":memory:")
    assert result.code == 2
    assert "in-memory store lives in one process" in result.err


def test_import_report_as_json(cli: CLI, tmp_path: Path) -> None:
    report = cli("import", str(sample_file(tmp_path)), "--json")
    assert report.code == 1
    data = report.json()
    assert (data["applied"], data["duplicates"], data["blank"]) == (7, 0, 1)
    assert [e["line"] for e in data["refused"]] == [2, 8, 9, 10, 11]


def test_the_auditors_history_replays_every_event_with_both_clocks(
    cli: CLI, tmp_path: Path
) -> None:
    cli("import", str(sample_file(tmp_path)))
    history = cli("history", "ACME-1", "--json").json()
    assert set(history) >= {"deal", "events", "state"}
    assert history["deal"] == "ACME-1"
    events = history["events"]
    assert [e["position"] for e in events] == sorted(e["position"] for e in events)
    first = events[0]
    assert set(first) >= {
        "position",
        "type",
        "effective_at",
        "recorded_at",
        "actor",
        "stage_before",
        "stage_after",
        "data",
    }
    assert (first["type"], first["stage_before"], first["stage_after"], first["actor"]) == (
        "Opened",
        None,
        "identified",
        "Li Wei",
    )
    assert first["data"]["account"] == "华信钢铁"
    advanced = next(e for e in events if e["type"] == "StageAdvanced")
    assert (advanced["stage_before"], advanced["stage_after"]) == ("identified", "contacted")
    assert advanced["effective_at"] == iso(4)
    assert advanced["actor"] == "auditor-test"
    assert advanced["provenance"]["line"] == "7"
    assert advanced["provenance"]["format"] == "jsonl"
    assert advanced["provenance"]["source"].endswith(".jsonl")
    assert history["state"]["stage"] == "contacted"
    assert history["state"]["effective_visits"] == 2

    as_of = cli("history", "ACME-1", "--as-of", iso(3.5), "--json").json()
    assert as_of["state"]["stage"] == "identified"
    assert as_of["later_events"] == 3

    table = cli("history", "ACME-1")
    assert table.code == 0
    assert "identified → contacted" in table.out
    assert "state: open at contacted" in table.out


def test_history_as_known_at_an_earlier_instant(cli: CLI, tmp_path: Path) -> None:
    cli("import", str(sample_file(tmp_path)))
    first = cli("history", "ACME-1", "--json").json()
    known = first["events"][-1]["recorded_at"]
    cli("deal", "amount", "ACME-1", "1500000", "--at", iso(1))
    now_view = cli("history", "ACME-1", "--json").json()
    then_view = cli("history", "ACME-1", "--known-at", known, "--json").json()
    assert now_view["state"]["amount"] == "1500000"
    assert then_view["state"]["amount"] == "1200000"


def test_deal_verbs_write_and_refuse_with_the_missing_criteria(cli: CLI) -> None:
    opened = cli(
        "deal",
        "open",
        "D-7",
        "--policy",
        "funnel-list",
        "--amount",
        "50000",
        "--owner",
        "王芳",
        "--at",
        iso(0),
        "--json",
    )
    assert opened.code == 0, opened.err
    assert opened.json()["position"] == "opportunity"
    refused = cli("deal", "advance", "D-7", "--to", "p50", "--at", iso(1))
    assert refused.code == 1
    assert (
        "entry criteria for 'p50' not met: missing project_approved, sales_plan, "
        "decision_chain_path, next_step, right_man" in refused.err
    )
    for name in ("project_approved", "sales_plan", "decision_chain_path"):
        assert cli("deal", "fact", "D-7", name, "--at", iso(1)).code == 0
    assert (
        cli(
            "deal",
            "next-step",
            "D-7",
            "--action",
            "demo at HQ",
            "--due",
            (NOW + timedelta(days=3)).date().isoformat(),
            "--at",
            iso(1),
        ).code
        == 0
    )
    moved = cli("deal", "advance", "D-7", "--to", "p25", "--at", iso(2), "--id", "adv-1")
    assert moved.code == 0, moved.err
    assert "StageAdvanced → p25" in moved.out
    repeat = cli("deal", "advance", "D-7", "--to", "p25", "--at", iso(2), "--id", "adv-1")
    assert "already applied" in repeat.out
    assert (
        cli("deal", "lost", "D-7", "--reason", "price", "--competitor", "Acme", "--at", iso(3)).code
        == 0
    )
    # A closed deal holds no next step: reopening to a live class must bring one.
    blocked = cli("deal", "reopen", "D-7", "--to", "p25", "--at", iso(4))
    assert blocked.code == 1
    assert "missing next_step" in blocked.err
    due = (NOW + timedelta(days=3)).date().isoformat()
    reopened = cli(
        "deal",
        "reopen",
        "D-7",
        "--to",
        "p25",
        "--next-action",
        "re-pitch",
        "--next-due",
        due,
        "--at",
        iso(4),
    )
    assert reopened.code == 0, reopened.err
    assert "Reopened → p25" in reopened.out
    assert (
        cli(
            "deal",
            "regress",
            "D-7",
            "--to",
            "opportunity",
            "--reason",
            "re-qualify",
            "--at",
            iso(6),
        ).code
        == 0
    )
    state = cli("history", "D-7", "--json").json()["state"]
    assert (state["status"], state["stage"], state["owner"]) == ("open", "opportunity", "王芳")


def test_bad_options_and_unknown_deals_are_clear_errors(cli: CLI) -> None:
    naive = cli("history", "X", "--as-of", "2026-01-01T00:00:00")
    assert naive.code == 2
    assert "--as-of" in naive.err
    assert "timezone" in naive.err
    future = cli(
        "deal",
        "open",
        "F",
        "--policy",
        "funnel-list",
        "--at",
        (datetime.now(UTC) + timedelta(hours=1)).isoformat(),  # ahead of this run's clock
    )
    assert future.code == 1
    assert "in the future" in future.err
    unknown = cli("history", "X")  # the refused write made the store: X is not in it
    assert unknown.code == 1
    assert "unknown deal 'X'" in unknown.err
    bad_field = cli("deal", "amount", "F", "abc")
    assert bad_field.code == 2
    assert "field 'amount'" in bad_field.err
    assert cli("import", "missing.jsonl").code == 2


def test_policy_list_and_show(cli: CLI) -> None:
    names = [p["name"] for p in cli("policy", "list", "--json").json()]
    assert names == ["bpi2012", "five-level", "funnel-list", "maven", "seven-stage"]
    shown = cli("policy", "show", "funnel-list", "--json").json()
    p50 = next(s for s in shown["stages"] if s["key"] == "p50")
    assert p50["probability"] == 50
    assert {"key": "right_man", "description": "Right Man"} in p50["criteria"]
    assert [s["key"] for s in shown["stages"]] == ["opportunity", "p25", "p50", "p90"]
    table = cli("policy", "show", "seven-stage")
    assert "进行商务谈判" in table.out


def test_a_malformed_user_policy_is_named_by_file_and_field(cli: CLI, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "bad.toml").write_text(
        'name = "bad"\ntitle = "Bad"\n[[stages]]\nkey = "a"\nname = "A"\nname_zh = "甲"\n'
        'probability = 101\nrole = "rep"\n',
        encoding="utf-8",
    )
    result = cli("--policies", str(folder), "policy", "list")
    assert result.code == 1
    assert "bad.toml: field 'stages[a].probability'" in result.err


def test_sweep_falls_back_deals_without_next_step_and_is_idempotent(
    cli: CLI, tmp_path: Path
) -> None:
    facts = {"project_approved": True, "sales_plan": True, "decision_chain_path": True}
    write_jsonl(
        tmp_path / "f.jsonl",
        [
            {"cmd": "open", "deal": "F-1", "policy": "funnel-list", "at": iso(0), "facts": facts},
            {"cmd": "next_step", "deal": "F-1", "action": "call", "due": iso(5), "at": iso(0)},
            {"cmd": "advance", "deal": "F-1", "to": "p25", "at": iso(1)},
            {"cmd": "open", "deal": "F-2", "policy": "funnel-list", "at": iso(0), "facts": facts},
            {
                "cmd": "next_step",
                "deal": "F-2",
                "action": "call",
                "at": iso(0),
                "due": (NOW + timedelta(days=30)).isoformat(),
            },
            {"cmd": "advance", "deal": "F-2", "to": "p25", "at": iso(1)},
        ],
    )
    assert cli("import", str(tmp_path / "f.jsonl")).code == 0
    first = cli("sweep", "--at", iso(20), "--json").json()
    assert [(f["deal"], f["to_stage"], f["effective_at"]) for f in first["fell_back"]] == [
        ("F-1", "opportunity", iso(5))
    ]
    second = cli("sweep", "--at", iso(20), "--json").json()
    assert second["fell_back"] == []
    assert cli("sweep").code == 0
    events = cli("history", "F-1", "--json").json()["events"]
    assert [e["data"].get("reason") for e in events if e["type"] == "StageRegressed"] == [
        "no_next_step"
    ]


def test_the_published_schema_is_what_the_cli_prints(cli: CLI) -> None:
    printed = json.loads(cli("schema").out)
    published = Path(__file__).resolve().parents[2] / "docs" / "commands.schema.json"
    assert printed == json.loads(published.read_text(encoding="utf-8"))


def test_the_demo_seeds_a_quarter_and_prints_both_funnels(cli: CLI, tmp_path: Path) -> None:
    end = NOW.date().isoformat()  # fixed, so both runs seed the same quarter
    result = cli("demo", "--end", end)
    assert result.code == 0, result.err
    assert "refused by the guard" in result.out
    assert "Funnel today" in result.out
    assert "Funnel 30 days ago" in result.out
    for stage in ("identified", "contacted", "qualified", "developed", "committed", "won"):
        assert stage in result.out
    deals = int(result.out.split(" deals,")[0].rsplit(" ", 1)[1])
    assert deals >= 150
    again = cli("demo", "--end", end)
    assert " 0 commands applied" in again.out
    assert stored_events(tmp_path / "store.db") > 4000


def test_a_line_that_is_not_utf8_is_refused_and_the_rest_applies(cli: CLI, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    good = json.dumps({"cmd": "open", "deal": "U-1", "policy": "funnel-list", "at": iso(0)})
    path.write_bytes(b'{"cmd": "won", "deal": "\xff\xfe"}\n' + good.encode() + b"\n")
    result = cli("import", str(path))
    assert result.code == 1
    assert ":1: refused: not UTF-8 text" in result.err
    assert "1 applied" in result.out


def test_policies_are_read_without_opening_the_store(cli: CLI, tmp_path: Path) -> None:
    assert cli("policy", "list", db_url="postgresql://nobody@127.0.0.1:1/none").code == 0
    assert cli("policy", "show", "five-level").code == 0
    assert not (tmp_path / "store.db").exists()


def test_unusable_stores_are_named_clearly(cli: CLI, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    cases = {
        str(junk): "cannot open the event store",
        "postgresql://postgres@127.0.0.1:abc/test": "the port is not a number",
        "postgresql://postgres@127.0.0.1/test?connect_timeout=soon": "connect_timeout",
        "sqlite://": "use sqlite:///PATH",
        "mysql://x/y": "unsupported database URL",
    }
    for url, reason in cases.items():
        result = cli("history", "X", db_url=url)
        assert result.code == 1, url
        assert reason in result.err, (url, result.err)
        assert "Traceback" not in result.err


@pytest.mark.postgres
def test_the_cli_runs_the_same_on_postgresql(cli: CLI, tmp_path: Path, pg_schema: str) -> None:
    url = f"{PG_URL}?schema={pg_schema}"
    first = cli("import", str(sample_file(tmp_path)), db_url=url)
    assert "7 applied, 0 already applied, 5 refused" in first.out
    again = cli("import", str(sample_file(tmp_path)), db_url=url)
    assert "0 applied, 7 already applied, 5 refused" in again.out
    history = cli("history", "ACME-1", "--json", db_url=url).json()
    assert history["state"]["stage"] == "contacted"
    assert [e["position"] for e in history["events"]] == sorted(
        e["position"] for e in history["events"]
    )
    assert not (tmp_path / "store.db").exists()


def test_integers_beyond_64_bits_are_refused_not_rounded(cli: CLI, tmp_path: Path) -> None:
    big = 18446744073709551616
    path = tmp_path / "big.jsonl"
    path.write_text(
        json.dumps({"cmd": "open", "deal": "B-1", "policy": "funnel-list", "at": iso(0)})
        + "\n"
        + f'{{"cmd": "fact", "deal": "B-1", "name": "n", "value": {big}, "at": "{iso(1)}"}}\n'
        + f'{{"cmd": "fact", "deal": "B-1", "name": "m", "value": {2**62}, "at": "{iso(1)}"}}\n',
        encoding="utf-8",
    )
    result = cli("import", str(path))
    assert result.code == 1
    assert ":2: refused: cannot read the command: Integer exceeds 64-bit range" in result.err
    facts = cli("history", "B-1", "--json").json()["state"]["facts"]
    assert facts == {"m": 2**62}
    verb = cli("deal", "fact", "B-1", "n", str(big))
    assert verb.code == 2
    assert "Traceback" not in verb.err
