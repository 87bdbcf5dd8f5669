"""End to end: a manager plans a period and charts the funnel from the command line."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from matplotlib import image

from tests.support.cli_runner import CLI
from tests.support.plan_history import PERIOD, STAGES, history


def test_the_plan_reverse_calculates_the_funnel_from_the_previous_period(
    cli: CLI, tmp_path: Path
) -> None:
    assert cli("import", str(history(tmp_path))).code == 0
    result = cli("plan", "--target", "800000", "--period", PERIOD, "--json")
    assert result.code == 0, result.err
    plan = result.json()
    assert plan["policy"] == "five-level" and plan["currency"] == "CNY"
    assert (plan["won_deals"], plan["average_won"]) == (1, "400000.00")
    rows = {r["stage"]: r for r in plan["rows"]}
    assert list(rows) == [*STAGES, "won"]
    # identified: A advanced, B did not: 1/2; every later stage converted A: 1/1.
    assert rows["identified"]["conversion"] == 0.5
    assert rows["identified"]["needed"] == 4  # 800k / (400k x 1/2)
    assert [rows[s]["needed"] for s in (*STAGES[1:], "won")] == [2] * len(STAGES)
    assert rows["identified"]["deals"] == 1  # C
    assert rows["identified"]["gap"] == -3
    assert rows["committed"]["mean_days"] == 6.0
    latest = datetime.fromisoformat(rows["committed"]["latest_entry"])
    assert latest == datetime.fromisoformat(plan["period"]["to"]) - timedelta(days=6)
    assert plan["problems"] == []

    table = cli("plan", "--target", "800000", "--period", PERIOD)
    assert table.code == 0, table.err
    assert "needed" in table.out and "identified" in table.out
    assert "1 deal won, average 400,000.00 CNY" in table.out


def test_without_history_the_plan_explains_what_is_missing(cli: CLI, tmp_path: Path) -> None:
    assert cli("import", str(history(tmp_path))).code == 0  # all of it years after 2019
    result = cli("plan", "--target", "1000000", "--period", "2020-Q1")
    assert result.code == 0, result.err
    assert "no average deal size to plan from" in result.out
    assert "2019-Q4" in result.out


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--target", "-5", "--period", "2026-Q1"], "--target"),
        (["--target", "0", "--period", "2026-Q1"], "--target"),
        (["--target", "lots", "--period", "2026-Q1"], "--target"),
        (["--target", "100", "--period", "2026-Q5"], "--period"),
        (["--target", "100", "--period", "2026-04-01..2026-03-01"], "--period"),
        (["--target", "100", "--period", "2026-Q1", "--policy", "nope"], "--policy"),
        (["--target", "100", "--period", "2026-Q1", "--currency", "euro"], "--currency"),
        (["--target", "100", "--period", "2026-Q1", "--as-of", "yesterday"], "--as-of"),
    ],
)
def test_bad_plan_options_are_usage_errors_naming_the_option(
    cli: CLI, args: list[str], option: str
) -> None:
    result = cli("plan", *args)
    assert result.code == 2
    assert option in result.err


def test_the_funnel_command_writes_its_chart(cli: CLI, tmp_path: Path) -> None:
    assert cli("import", str(history(tmp_path))).code == 0
    png, html = tmp_path / "funnel.png", tmp_path / "funnel.html"
    result = cli("funnel", "--chart", str(png))
    assert result.code == 0, result.err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width = image.imread(png).shape[:2]
    assert width >= 1000 and height >= 400
    assert cli("funnel", "--chart", str(html), "--by", "owner").code == 0
    # Stages are labelled with the policy's own names, in policy order.
    text = html.read_text(encoding="utf-8")
    assert "Identified" in text and text.index("Identified") < text.index("Committed")
    refused = cli("funnel", "--chart", str(tmp_path / "funnel.svg"))
    assert refused.code == 2 and "--chart" in refused.err
