"""End to end: conversion and cycle time over a window, as a manager runs them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli_inputs import OPENING, T, iso
from tests.support.cli_runner import CLI, write_jsonl

CONTACTED = ("decision_makers_identified", "key_needs_confirmed", "meetings_recorded")


def pipeline(tmp_path: Path) -> Path:
    """A advances on day 2 and is won on day 10; B is lost on day 5; C stays open."""
    return write_jsonl(
        tmp_path / "pipeline.jsonl",
        [
            {"cmd": "open", "deal": "A", "policy": "five-level", "at": iso(0), "owner": "li",
             "facts": OPENING},
            {"cmd": "open", "deal": "B", "policy": "five-level", "at": iso(1), "owner": "wang",
             "facts": OPENING},
            {"cmd": "open", "deal": "C", "policy": "five-level", "at": iso(3), "owner": "li",
             "facts": OPENING},
            *[{"cmd": "fact", "deal": "A", "name": name, "at": iso(2)} for name in CONTACTED],
            {"cmd": "advance", "deal": "A", "to": "contacted", "at": iso(2)},
            {"cmd": "lost", "deal": "B", "reason": "price", "at": iso(5)},
            {"cmd": "won", "deal": "A", "at": iso(10)},
        ],
    )  # fmt: skip


@pytest.fixture
def imported(cli: CLI, tmp_path: Path) -> CLI:
    assert cli("import", str(pipeline(tmp_path))).code == 0
    return cli


def stage(rows: list[dict[str, Any]], key: str, **match: str) -> dict[str, Any]:
    found = [r for r in rows if r["stage"] == key and all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, found
    return found[0]


def test_conversion_as_json(imported: CLI) -> None:
    run = imported("conversion", "--from", iso(0), "--to", iso(7), "--json")
    assert run.code == 0, run.err
    rows = run.json()["rows"]
    assert list(rows[0]) == [
        "policy", "stage", "cohort", "advanced", "lost", "open", "conversion", "drop_off",
    ]  # fmt: skip
    identified = stage(rows, "identified")
    assert (identified["cohort"], identified["advanced"], identified["lost"]) == (3, 1, 1)
    assert identified["open"] == 1
    assert identified["conversion"] == pytest.approx(1 / 3)
    assert stage(rows, "qualified")["conversion"] is None


def test_conversion_by_owner_names_the_group_in_each_row(imported: CLI) -> None:
    run = imported("conversion", "--from", iso(0), "--to", iso(7), "--by", "owner", "--json")
    assert run.code == 0, run.err
    rows = run.json()["rows"]
    assert list(rows[0])[:3] == ["policy", "owner", "stage"]
    assert stage(rows, "identified", owner="li")["cohort"] == 2
    assert stage(rows, "identified", owner="wang")["lost"] == 1


def test_cycle_time_over_plain_dates_as_json_and_as_a_table(imported: CLI) -> None:
    start, end_day = T.date().isoformat(), (T + timedelta(days=12)).date().isoformat()
    run = imported("cycle-time", "--from", start, "--to", end_day, "--json")
    assert run.code == 0, run.err
    rows = run.json()["rows"]
    assert list(rows[0]) == ["policy", "stage", "count", "mean_days", "median_days", "p90_days"]
    identified = stage(rows, "identified")
    assert identified["count"] == 2  # A 0->2, B 1->5
    assert identified["median_days"] == pytest.approx(3.0)
    assert identified["p90_days"] == pytest.approx(3.8)
    assert stage(rows, "won")["mean_days"] == pytest.approx(10.0)
    assert stage(rows, "committed")["mean_days"] is None
    table = imported("cycle-time", "--from", start, "--to", end_day)
    assert table.code == 0, table.err
    assert "Cycle time" in table.out
    assert "identified" in table.out


def test_a_duration_chart_is_written(imported: CLI, tmp_path: Path) -> None:
    chart = tmp_path / "durations.html"
    run = imported("cycle-time", "--from", iso(0), "--to", iso(11), "--chart", str(chart))
    assert run.code == 0, run.err
    assert chart.stat().st_size > 0


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["conversion", "--from", iso(5), "--to", iso(5)], "--to"),
        (["cycle-time", "--from", iso(5), "--to", iso(1)], "--to"),
        (["conversion", "--from", iso(0), "--to", iso(5), "--by", "colour"], "--by"),
        (["cycle-time", "--from", "yesterday", "--to", iso(5)], "--from"),
        (["cycle-time", "--from", "2026-02-30", "--to", iso(5)], "--from"),
        (["conversion", "--from", iso(0), "--to", "2026-03-01T00:00"], "--to"),
        (["conversion", "--from", iso(0), "--to", iso(5), "--policy", "nope"], "--policy"),
        (["cycle-time", "--from", iso(0), "--to", iso(5), "--chart", "out.txt"], "--chart"),
    ],
)
def test_bad_windows_and_options_are_usage_errors_naming_the_option(
    cli: CLI, args: list[str], option: str
) -> None:
    run = cli(*args)
    assert run.code == 2
    assert option in run.err
