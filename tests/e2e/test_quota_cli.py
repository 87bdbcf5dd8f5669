"""End to end: a manager sets quotas, reads them back as of T and known at K, and reads
each rep's V value and plan from the command line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.cli_runner import CLI, write_jsonl
from tests.support.commands import FIVE_LEVEL_OPENING
from tests.support.plan_history import FACTS, STAGES


def deals(tmp_path: Path) -> Path:
    """Li and anna of team east in 2026: Li's A won in Q1 2026 and B open, due in Q2;
    anna's C open, due in Q2."""
    lines = [
        {"cmd": "open", "deal": "A", "policy": "five-level", "at": "2026-01-10T09:00:00Z",
         "owner": "Li", "team": "east", "amount": "200000", "facts": FACTS},
        {"cmd": "open", "deal": "B", "policy": "five-level", "at": "2026-02-01T09:00:00Z",
         "owner": "Li", "team": "east", "amount": "500000", "expected_close": "2026-05-15",
         "facts": FIVE_LEVEL_OPENING},
        {"cmd": "open", "deal": "C", "policy": "five-level", "at": "2026-02-01T09:00:00Z",
         "owner": "anna", "team": "east", "amount": "100000", "expected_close": "2026-06-30",
         "facts": FIVE_LEVEL_OPENING},
    ]  # fmt: skip
    for n, stage in enumerate(STAGES[1:], 1):
        lines.append(
            {"cmd": "advance", "deal": "A", "to": stage, "at": f"2026-01-{10 + n}T09:00:00Z"}
        )
    lines.append({"cmd": "won", "deal": "A", "at": "2026-03-01T09:00:00Z"})
    return write_jsonl(tmp_path / "deals.jsonl", lines)


def test_quotas_are_set_read_back_and_the_old_one_stays_visible_known_at_k(cli: CLI) -> None:
    yearly = ["--rep", "Li", "--team", "east", "--period", "2026", "--amount", "1000000",
              "--currency", "CNY", "--at", "2026-01-01", "--id", "q1"]  # fmt: skip
    first = cli("quota", "set", *yearly)
    assert first.code == 0, first.err
    assert "TargetSet 2026" in first.out
    again = cli("quota", "set", *yearly)
    assert again.code == 0 and "already applied" in again.out
    before = datetime.now(UTC)
    changed = cli("quota", "set", "--rep", "Li", "--period", "2026-Q2", "--amount", "400000",
                  "--split", "monthly", "--at", "2026-01-01", "--json")  # fmt: skip
    assert changed.code == 0, changed.err
    assert changed.json()["version"] == 3

    shown = cli("quota", "show", "--rep", "Li", "--year", "2026", "--as-of", "2026-06-01",
                "--json").json()  # fmt: skip
    amounts = {q["period"]: q["amount"] for q in shown["quotas"]}
    # One form for the amounts set and their parts (the set ones were once "1000000").
    assert amounts["2026"] == "1000000.00" and amounts["2026-Q1"] == "250000.00"
    assert amounts["2026-Q2"] == "400000.00" and amounts["2026-04"] == "133333.34"
    assert shown["team"] == "east" and shown["currency"] == "CNY"
    assert [c["type"] for c in shown["changes"]] == ["Opened", "TargetSet", "TargetSet"]

    earlier = cli("quota", "show", "--rep", "Li", "--year", "2026", "--as-of", "2026-06-01",
                  "--known-at", before.isoformat(), "--json").json()  # fmt: skip
    amounts = {q["period"]: q["amount"] for q in earlier["quotas"]}
    assert amounts["2026-Q2"] == "250000.00" and "2026-04" not in amounts
    assert len(earlier["changes"]) == 2

    listed = cli("quota", "list", "--period", "2026-Q2", "--as-of", "2026-06-01", "--json").json()
    assert [(q["kind"], q["subject"], q["amount"], q["source"]) for q in listed["quotas"]] == [
        ("rep", "Li", "400000.00", "own"),
        ("team", "east", "400000.00", "reps"),
    ]
    table = cli("quota", "list", "--year", "2026", "--as-of", "2026-06-01")
    assert table.code == 0 and "2026-Q3" in table.out and "250,000.00" in table.out


def test_the_v_value_per_rep_and_team(cli: CLI, tmp_path: Path) -> None:
    assert cli("import", str(deals(tmp_path))).code == 0
    for rep, amount in (("Li", "1000000"), ("anna", "100000")):
        result = cli("quota", "set", "--rep", rep, "--team", "east", "--period", "2026-Q2",
                     "--amount", amount, "--currency", "CNY", "--at", "2026-01-01")  # fmt: skip
        assert result.code == 0, result.err
    result = cli("vvalue", "--period", "2026-Q2", "--as-of", "2026-04-15", "--json")
    assert result.code == 0, result.err
    rows = {(r["kind"], r["subject"]): r for r in result.json()["rows"]}
    li = rows["rep", "Li"]
    # A was won in Q1: nothing won in Q2 yet; B weighs 10% of 500k.
    assert (li["quota"], li["won"], li["remaining_quota"]) == ("1000000.00", "0", "1000000.00")
    assert (li["pipeline"], li["v"]) == ("50000.0", "0.0500")
    east = rows["team", "east"]
    assert (east["quota"], east["quota_source"], east["v"]) == ("1100000.00", "reps", "0.0545")
    # The default period is the quarter containing T; one rep may be asked for.
    one = cli("vvalue", "--rep", "anna", "--as-of", "2026-04-15", "--json").json()
    assert one["period"]["name"] == "2026-Q2"
    assert [(r["subject"], r["v"]) for r in one["rows"]] == [("anna", "0.1000")]
    text = cli("vvalue", "--as-of", "2026-04-15")
    assert text.code == 0 and "0.0500" in text.out and "the sum of its reps' quotas" in text.out


def test_the_plan_per_rep_reverse_calculates_from_each_remaining_quota(
    cli: CLI, tmp_path: Path
) -> None:
    assert cli("import", str(deals(tmp_path))).code == 0
    cli("quota", "set", "--rep", "Li", "--period", "2026-Q2", "--amount", "600000",
        "--currency", "CNY", "--at", "2026-01-01")  # fmt: skip
    result = cli("plan", "--per", "rep", "--period", "2026-Q2", "--as-of", "2026-04-15",
                 "--ideal-from", "team", "--json")  # fmt: skip
    assert result.code == 0, result.err
    document = result.json()
    plans = {p["subject"]: p for p in document["plans"]}
    assert set(plans) == {"Li", "anna"}
    li = plans["Li"]
    assert (li["target_from"], li["target"]) == ("remaining quota", "600000.00")
    # From the team's Q1: one deal won, 200k on average: 600k needs 3 wins.
    assert li["rows"][-1]["needed"] == 3
    assert {r["stage"]: r["deals"] for r in li["rows"]}["identified"] == 1  # B
    anna = plans["anna"]
    assert anna["target"] is None and any("no quota" in p for p in anna["problems"])
    assert all(r["needed"] is None for r in anna["rows"])
    # The plan without --per is the plan it always was.
    pooled = cli("plan", "--target", "600000", "--period", "2026-Q2", "--as-of", "2026-04-15",
                 "--json").json()  # fmt: skip
    assert "plans" not in pooled and pooled["rows"][-1]["needed"] == 3


@pytest.mark.parametrize(
    ("args", "field", "code"),
    [
        (["quota", "set", "--period", "2026", "--amount", "1"], "team", 2),
        (["quota", "set", "--rep", "Li", "--period", "2026-Q5", "--amount", "1"], "period", 2),
        (["quota", "set", "--rep", "Li", "--period", "2026", "--amount", "-3"], "amount", 2),
        (["quota", "set", "--rep", "Li", "--period", "2026", "--amount", "1",
          "--currency", "euro"], "currency", 2),
        (["quota", "set", "--rep", "Li", "--period", "2026", "--amount", "1",
          "--currency", "CNY", "--split", "1,2"], "2 amounts given", 1),
        (["quota", "set", "--rep", "Li", "--period", "2026", "--amount", "1"], "currency", 1),
        (["quota", "show", "--year", "2026"], "--rep", 2),
        (["quota", "list", "--period", "2026-W01"], "--period", 2),
        (["vvalue", "--period", "2026-W01"], "--period", 2),
        (["vvalue", "--rep", "Li", "--team", "east"], "--rep", 2),
        (["plan", "--per", "person", "--period", "2026-Q2"], "--per", 2),
        (["plan", "--period", "2026-Q2"], "--target", 2),
    ],
)  # fmt: skip
def test_bad_input_names_the_field_and_stores_nothing(
    cli: CLI, args: list[str], field: str, code: int
) -> None:
    cli("deal", "open", "X", "--policy", "five-level", *[f"--fact={f}" for f in FIVE_LEVEL_OPENING])
    result = cli(*args)
    assert result.code == code, result.err
    assert field in result.err
    listed = cli("quota", "list", "--year", "2026", "--json")
    assert listed.code == 0 and listed.json()["quotas"] == []


def test_mixed_currencies_are_refused_with_the_currency_to_use(cli: CLI) -> None:
    cli("quota", "set", "--team", "east", "--period", "2026-Q1", "--amount", "5",
        "--currency", "CNY")  # fmt: skip
    result = cli("quota", "set", "--team", "east", "--period", "2026-Q2", "--amount", "5",
                 "--currency", "usd")  # fmt: skip
    assert result.code == 1
    assert "--currency CNY" in result.err
    shown = cli("quota", "show", "--team", "east", "--json").json()
    assert len(shown["changes"]) == 2


def test_a_plan_per_rep_needs_its_own_options_in_their_place(cli: CLI) -> None:
    result = cli("plan", "--team", "east", "--period", "2026-Q2")
    assert result.code == 2 and "--per" in result.err


def test_a_name_with_no_deal_or_quota_is_said_to_be_unknown(cli: CLI, tmp_path: Path) -> None:
    # Once each of these printed nothing (or an empty document) and exited 0.
    assert cli("import", str(deals(tmp_path))).code == 0
    assert cli("quota", "set", "--rep", "Li", "--team", "east", "--period", "2026",
               "--amount", "1000000", "--currency", "CNY").code == 0  # fmt: skip
    asked = [
        ("vvalue", "--rep", "Nobody", "--period", "2026-Q2"),
        ("quota", "show", "--rep", "Nobody", "--year", "2026"),
        ("plan", "--per", "rep", "--rep", "Nobody", "--period", "2026-Q2", "--target", "100",
         "--policy", "five-level"),
    ]  # fmt: skip
    for args in asked:
        run = cli(*args)
        assert run.code == 1, (args, run.err)
        assert "no rep named 'Nobody' has" in run.err, args
    assert cli("quota", "show", "--rep", "Li", "--year", "2026").code == 0
    assert cli("vvalue", "--rep", "Li", "--period", "2026-Q2").code == 0
