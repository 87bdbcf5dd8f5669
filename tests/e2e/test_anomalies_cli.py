"""End to end: `salesengine anomalies` lists what the method calls anomalies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.cli_inputs import OPENING, iso
from tests.support.cli_runner import CLI, write_jsonl
from tests.support.policy_files import GOOD, write

CONTACTED = ("decision_makers_identified", "key_needs_confirmed", "meetings_recorded")
QUALIFIED = ("needs_agreed", "solution_defined", "financial_capability_confirmed", "delivery_plan")


def history(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    """A reaches contacted and loses its meeting records on day 3; B skips contacted."""
    lines: list[dict[str, Any]] = [
        {"cmd": "open", "deal": "A", "policy": "five-level", "at": iso(0), "owner": "li",
         "team": "north", "facts": OPENING},
        {"cmd": "open", "deal": "B", "policy": "five-level", "at": iso(0), "owner": "wang",
         "team": "east", "facts": OPENING},
        *[{"cmd": "fact", "deal": d, "name": n, "at": iso(1)} for d in "AB" for n in CONTACTED],
        *[{"cmd": "fact", "deal": "B", "name": n, "at": iso(1)} for n in QUALIFIED],
        {"cmd": "advance", "deal": "A", "to": "contacted", "at": iso(2)},
        {"cmd": "advance", "deal": "B", "to": "qualified", "at": iso(2)},
        {"cmd": "retract", "deal": "A", "name": "meetings_recorded", "reason": "minutes lost",
         "at": iso(3)},
    ]  # fmt: skip
    return write_jsonl(tmp_path / "anomalies.jsonl", lines), lines


def kinds(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["kind"], r["deal"]) for r in document["rows"]]


def test_anomalies_as_json_with_their_evidence(cli: CLI, tmp_path: Path) -> None:
    source, lines = history(tmp_path)
    assert cli("import", str(source)).code == 0
    # Imported today, effective 40 days ago: late by any threshold under 37 days.
    run = cli("anomalies", "--backdated-after", "100", "--json")
    assert run.code == 0, run.err
    document = run.json()
    assert kinds(document) == [
        ("criteria_lapsed", "A"),
        ("probability_jump", "B"),
        ("no_next_step", "A"),
        ("no_next_step", "B"),
    ]
    lapsed = document["rows"][0]
    assert lapsed["since"] == iso(3) and lapsed["position"] == "contacted"
    assert lapsed["evidence"]["criterion"] == "meetings_recorded"
    assert lapsed["evidence"]["reason"] == "minutes lost"
    jump = document["rows"][1]["evidence"]
    assert (jump["from"], jump["to"], jump["skipped"], jump["jump"]) == (
        "identified", "qualified", ["contacted"], 40
    )  # fmt: skip
    assert document["counts"]["backdated"] == 0
    assert document["backdated_after"] == {"days": "100", "per_kind": {}}

    # Every imported line is a late entry under 7 days, each fact but under 100 for facts.
    late = cli("anomalies", "--json").json()
    assert late["counts"]["backdated"] == len(lines)
    assert late["backdated_events"] == {"advance": 2, "fact": 10, "open": 2, "retract": 1}
    facts_apart = cli("anomalies", "--backdated-after", "7,fact=100", "--json").json()
    assert facts_apart["counts"]["backdated"] == len(lines) - 10

    # As of day 2.5 nothing was retracted yet; --owner keeps the deals li holds.
    early = cli("anomalies", "--as-of", iso(2.5), "--backdated-after", "100", "--json").json()
    assert ("criteria_lapsed", "A") not in kinds(early)
    mine = cli("anomalies", "--owner", "wang", "--backdated-after", "100", "--json").json()
    assert {deal for _, deal in kinds(mine)} == {"B"}


def test_anomalies_as_tables_limited_per_kind(cli: CLI, tmp_path: Path) -> None:
    source, _ = history(tmp_path)
    assert cli("import", str(source)).code == 0
    run = cli("anomalies", "--limit", "1")
    assert run.code == 0, run.err
    assert "criteria_lapsed (1)" in run.out
    assert "meetings_recorded (required by contacted) retracted (minutes lost)" in run.out
    assert "identified -> qualified, skipping contacted: 10% -> 50% (+40)" in run.out
    assert "backdated (15)" in run.out and "... and 14 more backdated" in run.out


def test_bad_anomalies_options_are_named_and_change_nothing(cli: CLI, tmp_path: Path) -> None:
    source, _ = history(tmp_path)
    assert cli("import", str(source)).code == 0
    for value, reason in (
        ("7,vist=3", "no event kind 'vist'"),
        ("seven", "days are a number"),
        ("7,visit=1,visit=2", "visit is given twice"),
    ):
        run = cli("anomalies", "--backdated-after", value)
        assert run.code == 2, run.out
        assert "--backdated-after" in run.err and reason in run.err, run.err
    run = cli("anomalies", "--policy", "nope")
    assert run.code == 2 and "--policy" in run.err
    missing = cli("anomalies", db_url=str(tmp_path / "none.db"))
    assert missing.code == 2 and not (tmp_path / "none.db").exists()


def test_policy_show_gives_the_grade_days_cadence_and_visit_target(
    cli: CLI, tmp_path: Path
) -> None:
    shipped = cli("policy", "show", "five-level")
    assert "grades (days to the expected close): A <= 31, B <= 92, C <= 183" in shipped.out
    assert "contact cadence (days): A 7, B 14, C 30, D 90; visit target 12 a week" in shipped.out
    assert "visits that may count as effective: every kind" in shipped.out
    directory = tmp_path / "policies"
    directory.mkdir()
    write(
        directory,
        "grade_days = { A = 10, B = 40, C = 100 }\ncontact_cadence_days = { D = 60 }\n" + GOOD,
    )
    own = cli("--policies", str(directory), "policy", "show", "mini", "--json").json()
    assert own["grade_days"] == {"A": 10, "B": 40, "C": 100}
    assert own["contact_cadence_days"] == {"A": 7, "B": 14, "C": 30, "D": 60}
    write(directory, "grade_days = { A = 50, B = 40 }\n" + GOOD)
    refused = cli("--policies", str(directory), "policy", "show", "mini")
    assert refused.code != 0
    assert "field 'grade_days'" in refused.err and "B (40) is not above A (50)" in refused.err
