"""End to end: managers read the funnel from the read models, at any instant."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import PG_URL
from tests.e2e.conftest import CLI, write_jsonl
from tests.e2e.test_cli import OPENING, iso


def pipeline(tmp_path: Path) -> Path:
    """Two five-level deals: one advances, one is lost; an amount is corrected later."""
    return write_jsonl(
        tmp_path / "pipeline.jsonl",
        [
            {"cmd": "open", "deal": "A", "policy": "five-level", "at": iso(0), "owner": "li",
             "team": "north", "amount": "1000", "facts": OPENING},
            {"cmd": "open", "deal": "B", "policy": "five-level", "at": iso(1), "owner": "wang",
             "team": "east", "amount": "600000", "facts": OPENING},
            *[
                {"cmd": "fact", "deal": "A", "name": name, "at": iso(2)}
                for name in ("decision_makers_identified", "key_needs_confirmed",
                             "meetings_recorded")
            ],
            {"cmd": "advance", "deal": "A", "to": "contacted", "at": iso(3)},
            {"cmd": "lost", "deal": "B", "reason": "price", "at": iso(4)},
        ],
    )  # fmt: skip


def by_stage(rows: list[dict[str, object]]) -> dict[str, tuple[object, object, object]]:
    return {str(r["stage"]): (r["deals"], r["amount"], r["weighted"]) for r in rows}


def test_the_funnel_now_and_as_of_an_earlier_instant(cli: CLI, tmp_path: Path) -> None:
    assert cli("import", str(pipeline(tmp_path))).code == 0
    now = by_stage(cli("funnel", "--json").json()["rows"])
    assert now["contacted"] == (1, "1000", "250.00")
    assert now["lost"] == (1, "600000", "0")
    assert now["identified"] == (0, "0", "0.0")
    earlier = by_stage(cli("funnel", "--as-of", iso(2.5), "--json").json()["rows"])
    assert earlier["identified"] == (2, "601000", "60100.0")
    assert earlier["lost"][0] == 0


def test_the_funnel_as_known_at_an_earlier_recording_instant(cli: CLI, tmp_path: Path) -> None:
    assert cli("import", str(pipeline(tmp_path))).code == 0
    history = cli("history", "A", "--json").json()
    opened_recorded = history["events"][0]["recorded_at"]
    # A correction recorded later, effective in the past.
    assert cli("deal", "amount", "A", "2500", "--at", iso(0.5)).code == 0
    before = by_stage(cli("funnel", "--known-at", opened_recorded, "--json").json()["rows"])
    assert before["contacted"] == (1, "1000", "250.00"), "the correction was not known then"
    assert before["lost"] == (1, "600000", "0")  # one batch: the import was known whole
    after = by_stage(cli("funnel", "--json").json()["rows"])
    assert after["contacted"] == (1, "2500", "625.00")


def test_the_funnel_grouped_by_team_and_by_size(cli: CLI, tmp_path: Path) -> None:
    assert cli("import", str(pipeline(tmp_path))).code == 0
    rows = cli("funnel", "--by", "team", "--json").json()["rows"]
    teams = {(r["team"], r["stage"]): r["deals"] for r in rows if r["deals"]}
    assert teams == {("north", "contacted"): 1, ("east", "lost"): 1}
    sizes = {
        (r["size"], r["stage"])
        for r in cli("funnel", "--by", "size", "--json").json()["rows"]
        if r["deals"]
    }
    assert sizes == {("<500k", "contacted"), ("500k-1M", "lost")}


def test_compare_shows_what_moved_between_two_instants(cli: CLI, tmp_path: Path) -> None:
    assert cli("import", str(pipeline(tmp_path))).code == 0
    rows = cli("funnel", "--as-of", iso(0.5), "--compare", iso(5), "--json").json()["rows"]
    moves = {r["stage"]: r for r in rows}
    assert moves["identified"]["start"] == 1
    assert moves["identified"]["out"] == 1 and moves["identified"]["advanced"] == 1
    assert moves["contacted"]["in"] == 1
    assert moves["lost"]["in"] == 1 and moves["lost"]["end"] == 1


def test_report_options_are_checked_before_anything_runs(cli: CLI) -> None:
    bad_by = cli("funnel", "--by", "colour")
    assert bad_by.code == 2 and "'colour' is not one of owner, team" in bad_by.err
    bad_time = cli("funnel", "--as-of", "yesterday")
    assert bad_time.code == 2 and "--as-of" in bad_time.err
    backwards = cli("funnel", "--as-of", iso(5), "--compare", iso(1))
    assert backwards.code == 2 and "must be later than --as-of" in backwards.err
    unknown = cli("funnel", "--policy", "nope")
    assert unknown.code == 2 and "no policy 'nope'" in unknown.err
    chart = cli("funnel", "--chart", "out.txt")
    assert chart.code == 2 and ".png or .html" in chart.err
    rebuild = cli("rebuild", "nope")
    assert rebuild.code == 2 and "no read model 'nope'" in rebuild.err


def test_project_and_rebuild_report_what_they_did(cli: CLI, tmp_path: Path) -> None:
    assert cli("import", str(pipeline(tmp_path))).code == 0
    first = cli("project", "--json").json()
    assert first["read"] == 7
    assert set(first["positions"].values()) == {7}
    assert cli("project", "--json").json()["read"] == 0
    rebuilt = cli("rebuild")
    assert rebuilt.code == 0
    models = "stage_intervals, deal_attributes, funnel_points, visits"
    assert f"rebuilt {models}: 7 events" in rebuilt.out


def test_reports_run_the_same_on_postgresql(cli: CLI, tmp_path: Path, pg_schema: str) -> None:
    url = f"{PG_URL}?schema={pg_schema}"
    assert cli("import", str(pipeline(tmp_path)), db_url=url).code == 0
    now = by_stage(cli("funnel", "--json", db_url=url).json()["rows"])
    assert now["contacted"] == (1, "1000", "250.00")
    assert now["lost"] == (1, "600000", "0")
