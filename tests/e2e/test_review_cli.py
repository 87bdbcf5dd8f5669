"""End to end: key information recorded from the command line and JSON Lines, shown by
history and the exports, and the case review a manager runs."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from salesengine.cli import review as review_cli
from salesengine.reports import review as review_report
from tests.support.cli_runner import CLI, write_jsonl
from tests.support.commands import FIVE_LEVEL_OPENING
from tests.support.services import PG_URL

NOW = datetime.now(UTC).replace(microsecond=0)
T = NOW - timedelta(days=10)
XES = "{http://www.xes-standard.org/}"


def iso(days: float) -> str:
    return (T + timedelta(days=days)).isoformat()


def day(days: float) -> str:
    return (T + timedelta(days=days)).date().isoformat()


def deals(tmp_path: Path) -> Path:
    """A (closes in 20 days, budget and competition known, competition retracted), B
    (closes in 60 days, nothing known), and six C deals (close in 150 days), all Li Wei's."""
    opening = {
        "cmd": "open",
        "policy": "five-level",
        "facts": FIVE_LEVEL_OPENING,
        "owner": "Li Wei",
    }
    lines: list[dict[str, object]] = [
        {**opening, "deal": "A-1", "at": iso(0), "by": "Li Wei", "expected_close": day(30),
         "account": "华信钢铁"},
        {"cmd": "key_info", "deal": "A-1", "at": iso(1), "by": "王芳",
         "info": {"topic": "budget", "amount": "1200000"}, "evidence": "CFO's email"},
        {"cmd": "key_info", "deal": "A-1", "at": iso(2),
         "info": {"topic": "competition", "competitors": ["Acme", "Oracle"], "leader": "Acme"}},
        {"cmd": "retract_key_info", "deal": "A-1", "at": iso(3), "topic": "competition",
         "reason": "Acme withdrew"},
        {"cmd": "next_step", "deal": "A-1", "at": iso(3), "action": "demo at HQ", "due": day(12)},
        {**opening, "deal": "B-1", "at": iso(1), "expected_close": day(70)},
    ]  # fmt: skip
    lines += [
        {**opening, "deal": f"C-{n}", "at": iso(2), "expected_close": day(160)} for n in range(6)
    ]
    return write_jsonl(tmp_path / "deals.jsonl", lines)


@pytest.fixture
def seeded(cli: CLI, tmp_path: Path) -> CLI:
    result = cli("import", str(deals(tmp_path)))
    assert result.code == 0, result.err
    return cli


def test_key_information_from_the_command_line_with_a_list_and_its_evidence(seeded: CLI) -> None:
    recorded = seeded(
        "deal", "key-info", "B-1", "requirement", "--set", "motivation=ERP end of life",
        "--set", "modules=finance", "--set", "modules=HR", "--evidence", "kick-off", "--by", "anna",
    )  # fmt: skip
    assert recorded.code == 0, recorded.err
    assert "B-1: KeyInfoRecorded → identified" in recorded.out
    state = seeded("history", "B-1", "--json").json()["state"]
    info = state["key_info"]["requirement"]
    assert info["details"] == {"motivation": "ERP end of life", "modules": ["finance", "HR"]}
    assert (info["evidence"], info["actor"]) == ("kick-off", "anna")
    bad = seeded("deal", "key-info", "B-1", "weather", "--set", "sky=blue")
    assert bad.code != 0 and "unknown topic 'weather'" in bad.err
    backwards = seeded(
        "deal", "key-info", "B-1", "schedule", "--set", "signing=2026-09-01",
        "--set", "go_live=2026-01-01",
    )  # fmt: skip
    assert backwards.code != 0 and "is before its signing" in backwards.err
    missing = seeded("deal", "retract-key-info", "B-1", "budget")
    assert missing.code != 0 and "key information 'budget' is not recorded" in missing.err
    assert len(seeded("history", "B-1", "--json").json()["events"]) == 2  # nothing more stored


def test_given_a_field_set_twice_when_it_holds_one_value_then_it_is_refused_naming_it(
    seeded: CLI,
) -> None:
    twice = seeded(
        "deal", "key-info", "B-1", "budget", "--set", "amount=1", "--set", "amount=2",
    )  # fmt: skip
    assert twice.code == 2, twice.out
    assert "--set" in twice.err and "amount is given twice ('1', '2')" in twice.err
    assert "holds one value" in twice.err
    topic = seeded("deal", "key-info", "B-1", "budget", "--set", "topic=schedule")
    assert topic.code == 2 and "topic is the command's TOPIC argument" in topic.err
    assert len(seeded("history", "B-1", "--json").json()["events"]) == 1  # nothing stored
    # A list's field repeats, one item each.
    listed = seeded(
        "deal", "key-info", "B-1", "competition", "--set", "competitors=Acme",
        "--set", "competitors=Oracle", "--set", "leader=Acme",
    )  # fmt: skip
    assert listed.code == 0, listed.err
    held = seeded("history", "B-1", "--json").json()["state"]["key_info"]["competition"]
    assert held["details"] == {"competitors": ["Acme", "Oracle"], "leader": "Acme"}


def test_history_lists_the_key_information_events_and_the_topics_held(seeded: CLI) -> None:
    h = seeded("history", "A-1", "--json").json()
    kinds = [e["type"] for e in h["events"]]
    assert kinds == [
        "Opened",
        "KeyInfoRecorded",
        "KeyInfoRecorded",
        "KeyInfoRetracted",
        "NextStepSet",
    ]
    budget = h["events"][1]
    assert budget["actor"] == "王芳"
    assert budget["data"] == {
        "topic": "budget",
        "details": {"amount": "1200000", "currency": "CNY"},  # the deal's currency
        "evidence": "CFO's email",
    }
    assert list(h["state"]["key_info"]) == ["budget"]
    earlier = seeded("history", "A-1", "--as-of", iso(2.5), "--json").json()["state"]
    assert list(earlier["key_info"]) == ["budget", "competition"]
    text = seeded("history", "A-1").out
    assert "competitors=Acme, Oracle; leader=Acme" in text
    assert "key info: budget (by 王芳)" in text


def test_exports_carry_the_key_information_columns(seeded: CLI, tmp_path: Path) -> None:
    assert seeded("export", "bi", "--format", "csv").code == 0
    with (tmp_path / "bi" / "events.csv").open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["deal"] == "A-1"]
    recorded = [r for r in rows if r["type"] == "KeyInfoRecorded"]
    assert [r["data_topic"] for r in recorded] == ["budget", "competition"]
    assert json.loads(recorded[1]["data_details"])["competitors"] == ["Acme", "Oracle"]
    assert [r["data_reason"] for r in rows if r["type"] == "KeyInfoRetracted"] == ["Acme withdrew"]
    assert seeded("export", "pq", "--format", "parquet").code == 0
    table = pq.read_table(tmp_path / "pq" / "events.parquet").to_pylist()
    assert [r["data_evidence"] for r in table if r["type"] == "KeyInfoRecorded"] == [
        "CFO's email",
        None,
    ]
    assert seeded("export", "audit.xes").code == 0
    events = ET.parse(tmp_path / "audit.xes").getroot().findall(f"{XES}trace/{XES}event")
    topics = [a.get("value") for e in events for a in e if a.get("key") == "data_topic"]
    assert topics == ["budget", "competition", "competition"]


def test_the_review_shows_a_deals_in_full_b_deals_and_a_reproducible_sample(seeded: CLI) -> None:
    # As of the module's NOW: the week the test counts new deals in is NOW's, even when
    # the test runs after a Monday's midnight that NOW was before.
    at = ("--as-of", NOW.isoformat())
    doc = seeded(
        "review", *at, "--owner", "Li Wei", "--sample", "2", "--seed", "w", "--json"
    ).json()
    grades = {g["grade"]: g for g in doc["grades"]}
    assert {g: (x["total"], len(x["deals"])) for g, x in grades.items()} == {
        "A": (1, 1), "B": (1, 1), "C": (6, 2), "D": (0, 0),
    }  # fmt: skip
    (a,) = grades["A"]["deals"]
    assert (a["deal"], a["opened_by"], a["opened_in"], a["account"]) == (
        "A-1", "Li Wei", "identified", "华信钢铁",
    )  # fmt: skip
    assert a["source"]["source"].endswith("deals.jsonl")  # imported: its file and line
    assert [(i["topic"], i["actor"], i["evidence"]) for i in a["key_info"]] == [
        ("budget", "王芳", "CFO's email")
    ]
    assert a["missing"] == ["requirement"] and a["unevidenced"] == []
    assert a["next_step"]["action"] == "demo at HQ"
    assert a["waiting_on"] == [
        "decision_makers_identified",
        "key_needs_confirmed",
        "meetings_recorded",
    ]
    assert grades["B"]["deals"][0]["deal"] == "B-1"
    again = seeded(
        "review", *at, "--owner", "Li Wei", "--sample", "2", "--seed", "w", "--json"
    ).json()
    assert again["grades"] == doc["grades"]
    assert (doc["seed"], doc["sample"]) == ("w", 2)
    # The account A-1 names, only implicit, graded by its A deal and opened with it 10
    # days ago; not new this week.
    assert doc["accounts"] == {"per_grade": {"A": 1, "B": 0, "C": 0, "D": 0}, "new_accounts": 0}
    monday = NOW.date() - timedelta(days=NOW.weekday())
    week_start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    openings = {"A-1": 0, "B-1": 1} | {f"C-{n}": 2 for n in range(6)}
    new = sorted(key for key, at in openings.items() if T + timedelta(days=at) >= week_start)
    assert sorted(n["deal"] for n in doc["new_deals"]) == new
    assert doc["new_deals_total"] == len(new) and doc["period"]["from"] == week_start.isoformat()
    text = seeded("review", *at, "--owner", "Li Wei", "--seed", "w")
    assert text.code == 0, text.err
    for part in (
        "A deals (1, in full)",
        "A-1",
        "budget: amount 1200000",
        "CFO's email",
        "missing: requirement",
        "B deals (1)",
        "C deals: 3 of 6 sampled (seed w)",
        "Overdue contacts",
        "Accounts per grade: A 1, B 0, C 0, D 0; new accounts: 0",
    ):
        assert part in text.out, part


def test_the_reviews_account_figures_count_the_reps_accounts_by_grade(seeded: CLI) -> None:
    # All at the test's NOW, as the review is asked: its week is the one they count in.
    at = ["--at", NOW.isoformat()]
    opened = seeded("account", "open", "ACME", "--owner", "Li Wei", "--team", "North", *at)
    assert opened.code == 0, opened.err
    assert seeded("account", "grade", "ACME", "C", *at).code == 0
    assert seeded("account", "open", "OTHER", "--owner", "Zhou Min", *at).code == 0
    asked = ["--as-of", NOW.isoformat(), "--json"]
    mine = seeded("review", "--owner", "Li Wei", *asked).json()["accounts"]
    assert mine == {"per_grade": {"A": 1, "B": 0, "C": 1, "D": 0}, "new_accounts": 1}
    listed = seeded("account", "list", "--owner", "Li Wei", "--json").json()
    rows = listed["accounts"] if isinstance(listed, dict) else listed
    assert sorted(r["grade"] for r in rows) == ["A", "C"]
    everyone = seeded("review", *asked).json()["accounts"]
    assert everyone == {"per_grade": {"A": 1, "B": 0, "C": 1, "D": 1}, "new_accounts": 2}


def test_the_review_as_of_an_earlier_instant_and_known_at_k(seeded: CLI, tmp_path: Path) -> None:
    assert seeded("deal", "key-info", "A-1", "requirement", "--set", "scope=all plants").code == 0
    recorded = seeded("history", "A-1", "--json").json()["events"][-1]["recorded_at"]
    now = seeded("review", "--json").json()
    a_now = next(g for g in now["grades"] if g["grade"] == "A")["deals"][0]
    assert [i["topic"] for i in a_now["key_info"]] == ["budget", "requirement"]
    earlier = timedelta(microseconds=1)
    k = (datetime.fromisoformat(recorded) - earlier).isoformat()
    a_then = next(g for g in seeded("review", "--known-at", k, "--json").json()["grades"]
                  if g["grade"] == "A")["deals"][0]  # fmt: skip
    assert [i["topic"] for i in a_then["key_info"]] == ["budget"]
    early = seeded("review", "--as-of", iso(0.5), "--json").json()
    assert [d["deal"] for g in early["grades"] for d in g["deals"]] == ["A-1"]
    assert early["grades"][0]["deals"][0]["key_info"] == []


def test_review_options_are_checked(cli: CLI) -> None:
    bad = cli("review", "--period", "fortnight")
    assert bad.code == 2 and "'fortnight' is not one of week, month, quarter" in bad.err
    negative = cli("review", "--sample", "-1")
    assert negative.code == 2


def test_the_command_lines_copies_equal_the_reports_own() -> None:
    assert review_cli.PERIODS == review_report.PERIODS
    assert review_cli.DEFAULT_SAMPLE == review_report.DEFAULT_SAMPLE


def test_the_review_runs_the_same_on_postgresql(cli: CLI, tmp_path: Path, pg_schema: str) -> None:
    url = f"{PG_URL}?schema={pg_schema}"
    assert cli("import", str(deals(tmp_path)), db_url=url).code == 0
    assert cli("import", str(deals(tmp_path))).code == 0

    def listed(doc: dict[str, Any]) -> list[tuple[str, int, list[tuple[str, list[str]]]]]:
        return [
            (
                g["grade"],
                g["total"],
                [(d["deal"], [i["topic"] for i in d["key_info"]]) for d in g["deals"]],
            )
            for g in doc["grades"]
        ]

    on_postgres = cli("review", "--seed", "w", "--sample", "2", "--json", db_url=url).json()
    on_sqlite = cli("review", "--seed", "w", "--sample", "2", "--json").json()
    assert listed(on_postgres) == listed(on_sqlite)
    assert listed(on_postgres)[0] == ("A", 1, [("A-1", ["budget"])])


def test_a_json_lines_key_information_line_is_refused_by_its_line_and_field(
    cli: CLI, tmp_path: Path
) -> None:
    lines = [
        {"cmd": "open", "deal": "K-1", "policy": "funnel-list", "at": iso(0)},
        {"cmd": "key_info", "deal": "K-1", "at": iso(1), "info": {"topic": "weather"}},
        {"cmd": "key_info", "deal": "K-1", "at": iso(1), "info": {"topic": "budget"}},
        {"cmd": "key_info", "deal": "K-1", "at": iso(1),
         "info": {"topic": "evaluation", "items": ["uptime"]}},
    ]  # fmt: skip
    result = cli("import", str(write_jsonl(tmp_path / "k.jsonl", lines)))
    assert result.code == 1
    assert ":2: refused: field 'info.topic': unknown topic 'weather'" in result.err
    assert ":3: refused: field 'info.amount': Field required" in result.err
    assert "2 applied" in result.out
    state = cli("history", "K-1", "--json").json()["state"]
    assert list(state["key_info"]) == ["evaluation"]


def test_deals_and_accounts_are_graded_and_judged_by_their_own_policy(
    cli: CLI, tmp_path: Path
) -> None:
    from tests.support.policy_files import GOOD, write

    policies = tmp_path / "policies"
    policies.mkdir()
    write(
        policies,
        "grade_days = { A = 100, B = 150, C = 200 }\n"
        "contact_cadence_days = { A = 1, B = 2, C = 3, D = 4 }\n" + GOOD,
    )
    lines = [
        {"cmd": "open", "deal": "M-1", "policy": "mini", "at": iso(0), "owner": "Li Wei",
         "account": "ACME", "expected_close": day(70)},
        {"cmd": "visit", "deal": "M-1", "at": iso(1)},
    ]  # fmt: skip
    imported = cli(
        "--policies", str(policies), "import", str(write_jsonl(tmp_path / "m.jsonl", lines))
    )
    assert imported.code == 0, imported.err
    # 60 days to the expected close: A by the policy's days (B by the defaults).
    doc = cli("--policies", str(policies), "review", "--json").json()
    assert {g["grade"]: g["total"] for g in doc["grades"]}["A"] == 1
    assert doc["accounts"]["per_grade"]["A"] == 1
    listed = cli("--policies", str(policies), "account", "show", "ACME", "--json").json()
    account = listed["account"]
    # The policy's cadence for A is one day: the visit nine days ago is overdue.
    assert (account["grade"], account["cadence_days"], account["in_cadence"]) == ("A", 1, False)
