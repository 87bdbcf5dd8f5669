"""End to end: managers read the funnel from the read models, at any instant."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli_inputs import iso, pipeline
from tests.support.cli_runner import CLI, write_jsonl
from tests.support.services import PG_URL


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
    # B opened and was lost within the period: it moved in and out of identified.
    assert moves["identified"]["in"] == 1 and moves["identified"]["out"] == 2
    assert moves["identified"]["advanced"] == 1 and moves["identified"]["lost"] == 1
    assert moves["identified"]["end"] == 0
    assert moves["contacted"]["in"] == 1
    assert moves["lost"]["in"] == 1 and moves["lost"]["end"] == 1


def test_compare_counts_every_move_with_amounts_and_honours_the_funnels_options(
    cli: CLI, tmp_path: Path
) -> None:
    assert cli("import", str(pipeline(tmp_path))).code == 0
    period = ("--as-of", iso(0.5), "--compare", iso(5))
    rows = cli("funnel", *period, "--by", "team", "--json").json()["rows"]
    moved = {(r["team"], r["stage"]): r for r in rows}
    north, east = moved[("north", "identified")], moved[("east", "identified")]
    assert (north["start"], north["start_amount"], north["out"], north["advanced"]) == (
        1, "1000", 1, 1
    )  # fmt: skip
    assert (east["in"], east["in_amount"], east["out"], east["lost"], east["lost_amount"]) == (
        1, "600000", 1, 1, "600000"
    )  # fmt: skip
    assert (moved[("east", "lost")]["in"], moved[("east", "lost")]["end_amount"]) == (1, "600000")
    assert {r["policy"] for r in rows} == {"five-level"}
    assert not cli("funnel", *period, "--policy", "funnel-list", "--json").json()["rows"]
    # Known before a later amount correction, the move is at the amount then known.
    recorded = cli("history", "A", "--json").json()["events"][0]["recorded_at"]
    assert cli("deal", "amount", "A", "2500", "--at", iso(2)).code == 0
    now = {r["stage"]: r for r in cli("funnel", *period, "--json").json()["rows"]}
    then = cli("funnel", *period, "--known-at", recorded, "--json").json()["rows"]
    then = {r["stage"]: r for r in then}
    assert now["identified"]["advanced_amount"] == "2500"
    assert then["identified"]["advanced_amount"] == "1000"
    png, html = tmp_path / "moves.png", tmp_path / "moves.html"
    drawn = cli("funnel", *period, "--by", "owner", "--chart", str(png))
    assert drawn.code == 0, drawn.err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "chart written" in drawn.out
    assert cli("funnel", *period, "--chart", str(html)).code == 0
    assert "moved in" in html.read_text(encoding="utf-8")
    table = cli("funnel", *period)
    for heading in ("at T", "advanced", "regressed", "won", "lost", "abandoned", "at T2"):
        assert heading in table.out
    assert "600,000.00" in table.out


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


def test_a_rebuild_by_fold_processes_gives_the_same_reports(cli: CLI, tmp_path: Path) -> None:
    assert cli("import", str(pipeline(tmp_path))).code == 0
    before = cli("funnel", "--json").json()["rows"]
    assert before
    rebuilt = cli("rebuild", "--workers", "2")
    assert rebuilt.code == 0, rebuilt.err
    models = "stage_intervals, deal_attributes, funnel_points, visits"
    assert f"rebuilt {models}: 7 events" in rebuilt.out
    assert cli("funnel", "--json").json()["rows"] == before
    online = cli("rebuild", "--online", "--workers", "2")
    assert online.code == 2 and "--online rebuilds in one process" in online.err
    memory = cli("rebuild", "--workers", "2", db_url="sqlite:///:memory:")
    assert memory.code == 2 and "an in-memory store lives in one process" in memory.err


def test_reports_run_the_same_on_postgresql(cli: CLI, tmp_path: Path, pg_schema: str) -> None:
    url = f"{PG_URL}?schema={pg_schema}"
    assert cli("import", str(pipeline(tmp_path)), db_url=url).code == 0
    now = by_stage(cli("funnel", "--json", db_url=url).json()["rows"])
    assert now["contacted"] == (1, "1000", "250.00")
    assert now["lost"] == (1, "600000", "0")


def test_size_bands_come_from_each_deals_policy_or_from_the_option(
    cli: CLI, tmp_path: Path
) -> None:
    maven = [
        {"cmd": "open", "deal": f"M-{n}", "policy": "maven", "at": iso(n), "amount": amount}
        for n, amount in enumerate(("55", "700", "3000", "26768"))
    ]
    assert cli("import", str(pipeline(tmp_path))).code == 0
    assert cli("import", str(write_jsonl(tmp_path / "maven.jsonl", maven))).code == 0

    def sizes(*args: str) -> set[tuple[str, str, str]]:
        rows = cli("funnel", "--by", "size", *args, "--json").json()["rows"]
        return {(r["policy"], r["size"], r["stage"]) for r in rows if r["deals"]}

    # Maven deals in the maven policy's USD bands, five-level deals in the default ones.
    assert sizes() == {
        ("maven", "<500", "prospecting"),
        ("maven", "500-1k", "prospecting"),
        ("maven", "1k-5k", "prospecting"),
        ("maven", ">=5k", "prospecting"),
        ("five-level", "<500k", "contacted"),
        ("five-level", "500k-1M", "lost"),
    }
    # --size-bands: the same bands for every deal, in its own currency.
    assert sizes("--size-bands", "1000,1000000") == {
        ("maven", "<1k", "prospecting"),
        ("maven", "1k-1M", "prospecting"),
        ("five-level", "1k-1M", "contacted"),
        ("five-level", "1k-1M", "lost"),
    }
    window = ("--from", iso(0), "--to", iso(10), "--by", "size", "--size-bands", "100", "--json")
    rows = cli("conversion", *window).json()["rows"]
    cohorts = {(r["size"], r["stage"]): r["cohort"] for r in rows}
    assert cohorts[("<100", "prospecting")] == 1 and cohorts[(">=100", "prospecting")] == 3
    table = cli("funnel", "--by", "size", "--policy", "maven")
    assert table.code == 0 and "1k-5k" in table.out


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--size-bands", "1000"], "only applies with --by size"),
        (["--by", "size", "--size-bands", "1000,500"], "band limits must increase"),
        (["--by", "size", "--size-bands", "0"], "greater than 0"),
        (["--by", "size", "--size-bands", "1k"], "digits 0-9"),
    ],
)
def test_bad_size_bands_are_usage_errors(cli: CLI, args: list[str], reason: str) -> None:
    run = cli("funnel", *args)
    assert run.code == 2
    assert "--size-bands" in run.err and reason in run.err


# bpi2012's bands (EUR 5k, 10k, 20k), lowest first, then the deals without an amount.
BAND_ORDER = ["<5k", "5k-10k", "10k-20k", ">=20k", "no amount"]


def test_size_groups_are_listed_in_band_order_in_every_report(cli: CLI, tmp_path: Path) -> None:
    # Opened in neither band nor text order, so that no order falls out by chance; each
    # deal then advances once (a move for compare, an interval ended for cycle-time).
    amounts = ["15000", "7000", None, "50000", "3000"]
    lines: list[dict[str, object]] = []
    for n, amount in enumerate(amounts):
        opening: dict[str, object] = {
            "cmd": "open",
            "deal": f"L-{n}",
            "policy": "bpi2012",
            "at": iso(n),
        }
        lines.append(opening if amount is None else opening | {"amount": amount})
        lines.append({"cmd": "advance", "deal": f"L-{n}", "to": "partly_submitted", "at": iso(6)})
    assert cli("import", str(write_jsonl(tmp_path / "loans.jsonl", lines))).code == 0

    window = ("--from", iso(0), "--to", iso(10))
    reports = {
        "funnel": (("funnel",), ["rows"]),
        "compare": (("funnel", "--as-of", iso(0), "--compare", iso(10)), ["rows"]),
        "conversion": (("conversion", *window), ["rows"]),
        "cycle-time": (("cycle-time", *window), ["rows"]),
        "forecast": (("forecast",), ["weighted_pipeline", "weeks"]),
        "health": (("health",), ["grades", "summary"]),
    }
    for name, (args, lists) in reports.items():
        found = cli(*args, "--by", "size", "--json").json()
        for rows in lists:
            listed = list(dict.fromkeys(row["size"] for row in found[rows]))
            assert listed == BAND_ORDER, (name, rows)
        text = cli(*args, "--by", "size")
        assert text.code == 0, (name, text)
        first_seen = sorted(BAND_ORDER, key=text.out.index)
        assert first_seen == BAND_ORDER, (name, text.out)
