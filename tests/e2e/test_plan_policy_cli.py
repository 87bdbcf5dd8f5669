"""`plan` plans the store's own policy, asks which when there are several, refuses one
without deals, and says when the period it plans from is not over at T."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.cli_runner import CLI, write_jsonl
from tests.support.plan_history import history

NOW = datetime.now(UTC)
PLAN = ("plan", "--target", "100000")
# A period that starts in ten days: the 90 days it is planned from hold today.
AHEAD = (NOW + timedelta(days=10)).date()
PERIOD_AHEAD = f"{AHEAD.isoformat()}..{(AHEAD + timedelta(days=90)).isoformat()}"


def funnel_list_deals(tmp_path: Path) -> Path:
    day = (NOW - timedelta(days=30)).isoformat()
    return write_jsonl(
        tmp_path / "funnel-list.jsonl",
        [
            {"cmd": "open", "deal": "F-1", "policy": "funnel-list", "at": day, "amount": "500"},
            {"cmd": "won", "deal": "F-1", "at": day},
        ],
    )


def test_the_policy_of_a_store_of_one_policy_is_planned(cli: CLI, tmp_path: Path) -> None:
    assert cli("import", str(funnel_list_deals(tmp_path))).code == 0
    run = cli(*PLAN, "--period", PERIOD_AHEAD, "--json")
    assert run.code == 0, run.err
    plan = run.json()
    assert plan["policy"] == "funnel-list"
    assert [r["stage"] for r in plan["rows"]] == ["opportunity", "p25", "p50", "p90", "won"]
    assert plan["won_deals"] == 1


def test_a_store_of_several_policies_asks_which(cli: CLI, tmp_path: Path) -> None:
    assert cli("import", str(funnel_list_deals(tmp_path))).code == 0
    assert cli("import", str(history(tmp_path))).code == 0  # five-level deals
    run = cli(*PLAN, "--period", PERIOD_AHEAD)
    assert run.code == 2, run
    assert "--policy" in run.err
    assert "several policies (five-level, funnel-list)" in run.err
    chosen = cli(*PLAN, "--period", PERIOD_AHEAD, "--policy", "funnel-list", "--json")
    assert chosen.code == 0, chosen.err
    assert chosen.json()["policy"] == "funnel-list"


def test_a_policy_without_deals_in_the_store_is_refused(cli: CLI, tmp_path: Path) -> None:
    assert cli("import", str(funnel_list_deals(tmp_path))).code == 0
    run = cli(*PLAN, "--period", PERIOD_AHEAD, "--policy", "five-level")
    assert run.code == 2, run
    assert "no deals of policy 'five-level'" in run.err
    assert "it holds deals of funnel-list" in run.err
    assert run.out == ""


def test_a_store_without_deals_has_nothing_to_plan_from(cli: CLI) -> None:
    assert cli("sweep").code == 0  # a store, with no deal in it
    run = cli(*PLAN, "--period", PERIOD_AHEAD)
    assert run.code == 2, run
    assert "holds no deals to plan from" in run.err


def test_a_period_planned_from_that_is_not_over_is_said_so(cli: CLI, tmp_path: Path) -> None:
    assert cli("import", str(funnel_list_deals(tmp_path))).code == 0
    table = cli(*PLAN, "--period", PERIOD_AHEAD)
    assert table.code == 0, table.err
    assert "has not ended at T" in table.out
    assert "only its part recorded by then" in table.out
    as_json = cli(*PLAN, "--period", PERIOD_AHEAD, "--json")
    assert as_json.json()["previous"]["in_progress"] is True


@pytest.mark.parametrize("as_of", [None, "past"])
def test_a_period_planned_from_is_judged_over_or_not_at_t(
    cli: CLI, tmp_path: Path, as_of: str | None
) -> None:
    assert cli("import", str(funnel_list_deals(tmp_path))).code == 0
    start = (NOW - timedelta(days=5)).date()  # planned from the 90 days before
    period = f"{start.isoformat()}..{(start + timedelta(days=90)).isoformat()}"
    args = () if as_of is None else ("--as-of", (NOW - timedelta(days=40)).isoformat())
    run = cli(*PLAN, "--period", period, *args)
    assert run.code == 0, run.err
    if as_of is None:
        assert "has not ended at T" not in run.out
    else:  # T lies inside the period planned from, which is over by now
        assert "has not ended at T" in run.out
        assert "events after T included" in run.out
