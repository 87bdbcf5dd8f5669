"""End to end: a manager reads the demo's portfolio per rep and team from the command
line (docs/portfolio.md)."""

from __future__ import annotations

import pytest

from salesengine.cli import portfolio as portfolio_cli
from salesengine.reports.portfolio_shape import UNITS
from tests.support.cli_runner import CLI

END = "2026-06-30"
REPS = 12


@pytest.fixture
def demo(cli: CLI) -> CLI:
    result = cli("demo", "--end", END)
    assert result.code == 0, result.err
    return cli


def test_the_shape_lists_every_rep_and_team_against_the_pyramid(demo: CLI) -> None:
    result = demo("portfolio", "shape", "--as-of", END, "--json")
    assert result.code == 0, result.err
    shape = result.json()
    assert shape["policy"] == "five-level" and shape["currency"] == "CNY"
    levels = [g["level"] for g in shape["groups"]]
    assert levels.count("rep") == REPS and levels.count("team") == 3 and levels[-1] == "all"
    whole = shape["groups"][-1]
    assert whole["open"] == sum(g["open"] for g in shape["groups"] if g["level"] == "rep")
    assert [p["name"] for p in shape["periods"]] == ["2026-04", "2026-05", "2026-06"]
    assert shape["periods"][-1]["partial"] is True
    for g in shape["groups"]:
        assert g["pyramid"] == (g["not_pyramid"] == [])
    text = demo("portfolio", "shape", "--as-of", END, "--team", "East 华东", "--every", "week")
    assert text.code == 0, text.err
    assert "Funnel shape of five-level" in text.out and "New deals per period" in text.out
    assert "Li Wei" not in text.out  # a rep of North


def test_the_projection_is_reproducible_and_says_whose_funnel_empties(demo: CLI) -> None:
    args = ("portfolio", "project", "--as-of", END, "--runs", "300", "--json")
    first = demo(*args, "--seed", "3")
    assert first.code == 0, first.err
    again = demo(*args, "--seed", "3")
    assert first.json() == again.json()
    projection = first.json()
    assert projection["horizon"] == "sales cycle" and projection["runs"] == 300
    reps = [g for g in projection["groups"] if g["level"] == "rep"]
    assert len(reps) == REPS
    for g in reps:
        assert g["open"]["p10"] <= g["open"]["p90"] <= g["open_now"]
        assert g["empties"] == (g["open"]["p90"] <= 0.25 * g["open_now"])
    # Over a moment nothing moves: every funnel keeps what it holds.
    moment = demo(*args, "--horizon", "0.001").json()
    assert moment["horizon"] == "given"
    for g in moment["groups"]:
        assert g["open"]["p10"] == g["open"]["p90"] == g["open_now"]
        assert g["empties"] is False
    text = demo("portfolio", "project", "--as-of", END, "--runs", "100", "--owner", "Li Wei")
    assert text.code == 0, text.err
    assert "If no new prospects are added" in text.out and "Stage exits" in text.out


def test_the_backtest_reports_the_share_of_pairs_inside_the_band(demo: CLI) -> None:
    result = demo(
        "portfolio", "backtest", "--as-of", "2026-05-01", "--as-of", "2026-05-15",
        "--runs", "300", "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    found = result.json()
    assert found["pairs"] == 2 * REPS * 4
    assert found["coverage"] == found["inside"] / found["pairs"]
    assert len(found["checked"]) == found["pairs"]
    assert [p["incomplete"] for p in found["points"]] == [False, False]
    text = demo("portfolio", "backtest", "--as-of", "2026-05-01", "--runs", "100")
    assert text.code == 0, text.err
    assert "coverage" in text.out


def test_each_rep_is_held_against_the_ideal_funnel(demo: CLI) -> None:
    result = demo("portfolio", "reps", "--as-of", END, "--target", "1,000,000", "--json")
    assert result.code == 0, result.err
    found = result.json()
    assert len(found["reps"]) == REPS
    for rep in found["reps"]:
        assert rep["target"] == "1000000" and rep["target_from"] == "given"
        assert [s["stage"] for s in rep["stages"]][-1] == "won"
        assert rep["fill"] is None or 0 <= rep["fill"] <= 1
    text = demo("portfolio", "reps", "--as-of", END)
    assert text.code == 0, text.err
    assert "fill" in text.out


def test_given_quotas_each_rep_is_held_to_their_quota_and_the_output_says_so(demo: CLI) -> None:
    quotas = demo("quota", "list", "--period", "2026-Q2", "--as-of", END, "--json").json()
    quota = {q["subject"]: q["amount"] for q in quotas["quotas"] if q["kind"] == "rep"}
    assert len(quota) == REPS
    result = demo("portfolio", "reps", "--as-of", END, "--json")
    assert result.code == 0, result.err
    found = result.json()
    assert {r["rep"]: (r["target"], r["target_from"]) for r in found["reps"]} == {
        rep: (amount, "quota") for rep, amount in quota.items()
    }
    assert found["notes"] == []
    text = demo("portfolio", "reps", "--as-of", END)
    assert "quota (the rep's quota for 2026-Q2)" in text.out
    # A week has no quota: each rep is held to the previous week, and the note says why.
    weekly = demo("portfolio", "reps", "--as-of", END, "--period", "2026-W26", "--json").json()
    assert {r["target_from"] for r in weekly["reps"]} <= {"previous period", None}
    assert weekly["notes"] == [
        "2026-W26 is no quota period (a year, quarter or month): no quota applies"
    ]


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["shape", "--every", "fortnight"], "--every"),
        (["shape", "--period", "2026-Q5"], "--period"),
        (["shape", "--as-of", "yesterday"], "--as-of"),
        (["project", "--runs", "0"], "--runs"),
        (["project", "--currency", "euro"], "--currency"),
        (["project", "--policy", "nope"], "--policy"),
        (["backtest"], "--as-of"),
        (["backtest", "--as-of", "2999-01-01"], "--as-of"),
        (["reps", "--target", "-5"], "--target"),
    ],
)
def test_bad_portfolio_options_are_usage_errors_naming_the_option(
    cli: CLI, args: list[str], option: str
) -> None:
    result = cli("portfolio", *args)
    assert result.code == 2, (result.out, result.err)
    assert option in result.err


def test_without_a_win_in_the_window_the_projection_asks_for_a_horizon(demo: CLI) -> None:
    result = demo("portfolio", "project", "--as-of", END, "--window", "0.01")
    assert result.code == 2
    assert "--horizon" in result.err and "no sales cycle" in result.err


def test_the_clis_copy_of_the_units_matches_the_report() -> None:
    assert portfolio_cli.UNITS == UNITS
