"""`salesengine forecast` and `salesengine health` as a user runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli_runner import salesengine as run_salesengine
from tests.support.commands import FIVE_LEVEL_OPENING

T = "2026-03-04T09:00:00+00:00"


def salesengine(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_salesengine(*args, env={"SALESENGINE_DB": str(tmp_path / "store.db")}, cwd=tmp_path)


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    lines: list[dict[str, Any]] = [
        {"cmd": "open", "deal": "X-1", "policy": "five-level", "at": "2026-03-02T09:00:00+00:00",
         "amount": "1000", "expected_close": "2026-03-10", "facts": FIVE_LEVEL_OPENING},
        {"cmd": "visit", "deal": "X-1", "at": "2026-03-03T09:00:00+00:00", "by": "王芳",
         "effective": True},
    ]  # fmt: skip
    path = tmp_path / "seed.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    assert salesengine(tmp_path, "import", str(path)).returncode == 0
    return tmp_path


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["forecast", "--as-of", "yesterday"], "--as-of"),
        (["forecast", "--known-at", "2026-03-04T09:00"], "--known-at"),
        (["forecast", "--policy", "nope"], "--policy"),
        (["health", "--as-of", "2026-13-01T00:00:00Z"], "--as-of"),
        (["health", "--policy", "nope"], "--policy"),
        (["health", "--limit", "-1"], "--limit"),
        (["health", "--by", "colour"], "--by"),
        (["forecast", "--by", "colour"], "--by"),
        (["forecast", "--size-bands", "100"], "--size-bands"),
    ],
)
def test_bad_input_is_a_usage_error_naming_the_option(
    tmp_path: Path, args: list[str], option: str
) -> None:
    run = salesengine(tmp_path, *args)
    assert run.returncode == 2
    assert option in run.stderr
    assert "Traceback" not in run.stderr


def test_forecast_json_has_the_pipeline_the_weeks_and_the_outside_buckets(seeded: Path) -> None:
    run = salesengine(seeded, "forecast", "--as-of", T, "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert set(report) == {
        "as_of", "known_at", "earliest_recorded", "policy", "by", "owner", "team",
        "weighted_pipeline", "weeks", "outside",
    }  # fmt: skip
    assert report["as_of"] == T and report["known_at"] is None
    assert report["weighted_pipeline"] == [
        {"policy": "five-level", "currency": "CNY", "deals": 1, "amount": "1000",
         "weighted": "100.0"}
    ]  # fmt: skip
    assert [(w["week"], w["starts"], w["deals"]) for w in report["weeks"]] == [
        ("2026-W10", "2026-03-02", 0),
        ("2026-W11", "2026-03-09", 1),
        ("2026-W12", "2026-03-16", 0),
        ("2026-W13", "2026-03-23", 0),
    ]
    assert set(report["weeks"][1]) == {"week", "starts", "currency", "deals", "amount", "weighted"}
    assert report["outside"] == []


def test_health_json_lists_grades_stale_deals_contacts_and_visits(seeded: Path) -> None:
    run = salesengine(seeded, "health", "--as-of", T, "--policy", "five-level", "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert set(report) == {
        "as_of", "known_at", "earliest_recorded", "policy", "by", "owner", "team", "grades",
        "summary", "stale", "stale_total", "overdue_contacts", "overdue_contacts_total", "visits",
    }  # fmt: skip
    assert [(g["grade"], g["deals"]) for g in report["grades"]] == [
        ("A", 1), ("B", 0), ("C", 0), ("D", 0)
    ]  # fmt: skip
    assert [(s["deal"], s["reasons"]) for s in report["stale"]] == [("X-1", ["no_next_step"])]
    assert report["overdue_contacts"] == []
    this_week = report["visits"][-1]
    assert this_week == {
        "rep": "王芳", "week": "2026-W10", "starts": "2026-03-02", "visits": 1, "effective": 1,
        "target": 12, "met": False, "partial": True,
    }  # fmt: skip
    # Known before anything was recorded, there is nothing to report.
    run = salesengine(
        seeded, "health", "--as-of", T, "--known-at", "2020-01-01T00:00:00Z", "--json"
    )
    empty = json.loads(run.stdout)
    assert (empty["grades"], empty["stale"], empty["visits"]) == ([], [], [])


def test_the_tables_name_each_part(seeded: Path) -> None:
    forecast = salesengine(seeded, "forecast", "--as-of", T)
    health = salesengine(seeded, "health", "--as-of", T)
    assert forecast.returncode == health.returncode == 0
    assert "Weighted pipeline" in forecast.stdout and "2026-W11" in forecast.stdout
    for title in ("Grades", "Summary per owner", "Stale deals (1", "Overdue contacts (0",
                  "Effective visits"):  # fmt: skip
        assert title in health.stdout
    assert "王芳" in health.stdout and "no_next_step" in health.stdout


@pytest.fixture
def team_pipeline(tmp_path: Path) -> Path:
    """Seven open deals of two owners in two teams; each one is stale (no next step)."""
    lines: list[dict[str, Any]] = []
    for n in range(7):
        owner, team = ("anna", "east") if n < 5 else ("王芳", "north")
        lines.append(
            {"cmd": "open", "deal": f"D-{n}", "policy": "five-level",
             "at": f"2026-02-{n + 1:02d}T09:00:00+00:00", "owner": owner, "team": team,
             "amount": str(1000 * (n + 1)), "expected_close": "2026-03-10",
             "facts": FIVE_LEVEL_OPENING}
        )  # fmt: skip
    lines.append({"cmd": "visit", "deal": "D-6", "at": "2026-03-03T09:00:00+00:00", "by": "王芳"})
    lines.append({"cmd": "visit", "deal": "D-0", "at": "2026-03-03T10:00:00+00:00", "by": "bo"})
    path = tmp_path / "team.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    assert salesengine(tmp_path, "import", str(path)).returncode == 0
    return tmp_path


def test_health_for_one_owner_or_team_with_a_summary_and_a_limit(team_pipeline: Path) -> None:
    def report(*args: str) -> dict[str, Any]:
        run = salesengine(team_pipeline, "health", "--as-of", T, *args, "--json")
        assert run.returncode == 0, run.stderr
        result: dict[str, Any] = json.loads(run.stdout)
        return result

    everyone = report()
    assert [
        (r["owner"], r["open"], r["stale"], r["no_next_step"]) for r in everyone["summary"]
    ] == [
        ("anna", 5, 5, 5),
        ("王芳", 2, 2, 2),
    ]
    assert everyone["stale_total"] == len(everyone["stale"]) == 7
    # Longest in its stage first: D-0 opened first.
    assert [s["deal"] for s in everyone["stale"]][:2] == ["D-0", "D-1"]
    anna = report("--owner", "anna", "--limit", "2")
    assert [s["deal"] for s in anna["stale"]] == ["D-0", "D-1"]
    assert (anna["stale_total"], anna["owner"]) == (5, "anna")
    assert [r["owner"] for r in anna["summary"]] == ["anna"]
    assert [(g["grade"], g["deals"]) for g in anna["grades"] if g["deals"]] == [("A", 5)]
    # The visits on anna's deals, whoever logged them.
    assert {v["rep"] for v in anna["visits"]} == {"bo"}
    north = report("--team", "north", "--by", "team")
    assert [(r["team"], r["open"]) for r in north["summary"]] == [("north", 2)]
    assert {s["team"] for s in north["stale"]} == {"north"}
    assert {g["team"] for g in north["grades"]} == {"north"}
    assert {v["rep"] for v in north["visits"]} == {"王芳"}
    assert report("--owner", "nobody")["summary"] == []

    text = salesengine(team_pipeline, "health", "--as-of", T, "--limit", "3")
    assert text.returncode == 0, text.stderr
    assert "Summary per owner" in text.stdout and "Stale deals (7" in text.stdout
    assert "... and 4 more stale deals" in text.stdout
    assert "D-0" in text.stdout and "D-6" not in text.stdout.split("Overdue contacts")[0]
    grouped = salesengine(team_pipeline, "health", "--as-of", T, "--by", "team")
    assert "Summary per team" in grouped.stdout and "more stale deals" not in grouped.stdout


def test_the_forecast_for_one_owner_or_team_and_by_group(team_pipeline: Path) -> None:
    def report(*args: str) -> dict[str, Any]:
        run = salesengine(team_pipeline, "forecast", "--as-of", T, *args, "--json")
        assert run.returncode == 0, run.stderr
        result: dict[str, Any] = json.loads(run.stdout)
        return result

    by_owner = report("--by", "owner")
    assert [(p["owner"], p["deals"], p["amount"]) for p in by_owner["weighted_pipeline"]] == [
        ("anna", 5, "15000"),
        ("王芳", 2, "13000"),
    ]
    assert {(w["owner"], w["week"]) for w in by_owner["weeks"] if w["deals"]} == {
        ("anna", "2026-W11"),
        ("王芳", "2026-W11"),
    }
    team = report("--team", "north")
    assert [(p["deals"], p["amount"]) for p in team["weighted_pipeline"]] == [(2, "13000")]
    assert "owner" not in team["weighted_pipeline"][0] and team["team"] == "north"
    assert report("--owner", "anna", "--team", "north")["weighted_pipeline"] == []
    text = salesengine(team_pipeline, "forecast", "--as-of", T, "--by", "owner")
    assert text.returncode == 0 and "王芳" in text.stdout and "anna" in text.stdout
