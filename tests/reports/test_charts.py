"""Funnel and stage-duration charts: a real PNG and a self-contained HTML file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

from salesengine.reports.charts import (
    write_duration_chart,
    write_funnel_chart,
    write_moves_chart,
)
from salesengine.reports.charts_layout import compact, funnel_panels, move_panels
from salesengine.reports.cycle_time import CycleTimeRow
from salesengine.reports.funnel import FunnelReportRow
from salesengine.reports.funnel_moves import MEASURES, MoveRow, Tally
from tests.support.histories import POLICIES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WON_GREEN = (0x2E, 0x7D, 0x32)
TITLE = "Funnel as of 2026-05-01T09:00:00+00:00"


def funnel_rows(group: str | None = None, scale: int = 1) -> list[FunnelReportRow]:
    """A realistic five-level funnel (a pyramid) with its outcomes, plus a USD slice."""
    counts = {"identified": 31, "contacted": 22, "qualified": 14, "developed": 9,
              "committed": 5, "won": 12, "lost": 7, "abandoned": 3}  # fmt: skip
    rows = []
    for stage, n in counts.items():
        amount = Decimal(n * 437_500 * scale)
        weight = Decimal(POLICIES["five-level"].probability(stage)) / 100
        rows.append(
            FunnelReportRow("five-level", stage, "CNY", n * scale, amount, amount * weight, group)
        )
    return rows


def usd_rows() -> list[FunnelReportRow]:
    spec = POLICIES["funnel-list"]
    return [
        FunnelReportRow("funnel-list", s, "USD", 2, Decimal(90_000), Decimal(0))
        for s in (*spec.stage_keys, "won", "lost", "abandoned")
    ]


@dataclass(frozen=True)
class Stay:
    """Only the attributes the chart reads: any such row will do."""

    policy: str
    stage: str
    count: int
    mean_days: float | None
    median_days: float | None
    p90_days: float | None


def duration_rows() -> list[CycleTimeRow]:
    return [
        CycleTimeRow("five-level", "identified", 28, 14.2, 11.5, 29.75),
        CycleTimeRow("five-level", "contacted", 19, 21.0, 18.25, 40.5),
        CycleTimeRow("five-level", "qualified", 0, None, None, None),
        CycleTimeRow("five-level", "developed", 7, 9.5, 8.0, 15.0),
        CycleTimeRow("five-level", "committed", 5, 12.0, 12.0, 12.0),
        CycleTimeRow("five-level", "won", 12, 61.3, 58.0, 88.9),
    ]


def move_rows(group: str | None = None) -> list[MoveRow]:
    """A month of five-level moves: deals in and out of each stage, and where they went."""
    moved = {
        "identified": (20, 14, 9, {"advanced": 6, "lost": 3}),
        "contacted": (12, 6, 5, {"advanced": 4, "abandoned": 1}),
        "qualified": (8, 4, 6, {"advanced": 3, "regressed": 1, "lost": 2}),
        "developed": (5, 3, 4, {"advanced": 4}),
        "committed": (2, 4, 3, {"won": 3}),
        "won": (10, 3, 0, {}),
        "lost": (7, 5, 1, {}),
        "abandoned": (1, 1, 0, {}),
    }
    rows = []
    for stage, (start, moved_in, moved_out, where) in moved.items():
        counts = {"start": start, "in": moved_in, "out": moved_out, **where}
        counts["end"] = start + moved_in - moved_out
        tallies = {
            m: Tally(counts.get(m, 0), Decimal(counts.get(m, 0) * 250_000)) for m in MEASURES
        }
        rows.append(MoveRow("five-level", stage, "CNY", group, tallies))
    return rows


def png_pixels(path: Path) -> tuple[int, int, set[tuple[int, int, int]]]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    pixels = image.imread(path)
    height, width = pixels.shape[:2]
    rgb = (pixels[..., :3] * 255).round().astype(np.uint8).reshape(-1, 3)
    colours = {(int(r), int(g), int(b)) for r, g, b in np.unique(rgb, axis=0)}
    return width, height, colours


def test_a_funnel_png_is_a_real_image_of_readable_size_with_the_outcome_colours(
    tmp_path: Path,
) -> None:
    path = tmp_path / "funnel.png"
    write_funnel_chart([*funnel_rows(), *usd_rows()], path, TITLE)
    width, height, colours = png_pixels(path)
    assert 1000 <= width <= 2000
    assert 600 <= height <= 3000  # two panels of eight bars
    assert WON_GREEN in colours  # the won bar is drawn apart, in green
    assert len(colours) > 20  # not a blank canvas


def test_a_grouped_funnel_png_stacks_groups_and_survives_chinese_names(tmp_path: Path) -> None:
    rows = [*funnel_rows("Li Wei"), *funnel_rows("王芳", scale=2), *funnel_rows(None)]
    path = tmp_path / "by-owner.png"
    # pytest turns warnings into errors: a missing glyph would fail here.
    write_funnel_chart(rows, path, "Funnel by owner, 2026-05-01", policies=POLICIES)
    width, height, colours = png_pixels(path)
    assert width >= 1000 and height >= 400
    assert {(0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E), (0x2C, 0xA0, 0x2C)} <= colours  # 3 groups


def test_a_funnel_html_is_self_contained_and_holds_the_stages_and_numbers(tmp_path: Path) -> None:
    path = tmp_path / "funnel.html"
    write_funnel_chart(funnel_rows(), path, TITLE, policies=POLICIES)
    html = path.read_text(encoding="utf-8")
    assert '<meta charset="utf-8"' in html
    assert not re.search(r"<script[^>]+src=", html), "plotly.js must be inlined, not fetched"
    assert len(html) > 1_000_000 and "plotly" in html.lower()
    for name in ("Identified", "Committed", "won", "lost", "abandoned", "识别", "承诺"):
        assert name in html
    assert TITLE in html
    assert "deals: 31" in html and "deals: 12" in html  # identified, won
    assert "13,562,500.00 CNY" in html  # identified's amount, 31 x 437,500
    assert compact(31 * 437_500) in html


def test_a_moves_chart_draws_moves_in_and_out_per_stage_in_both_formats(tmp_path: Path) -> None:
    png, html, grouped = tmp_path / "m.png", tmp_path / "m.html", tmp_path / "g.png"
    write_moves_chart(move_rows(), png, "Moves in March", policies=POLICIES)
    width, height, colours = png_pixels(png)
    assert width >= 1000 and height >= 400
    assert {WON_GREEN, (0xC6, 0x28, 0x28)} <= colours  # in to the right, out to the left
    write_moves_chart(move_rows(), html, "Moves in March", policies=POLICIES)
    text = html.read_text(encoding="utf-8")
    assert "Moves in March" in text and "moved in" in text and "moved out" in text
    assert "moved in: 14 deals" in text and "amount: 3,500,000.00 CNY" in text
    assert "20 → 25" in text  # identified: 20 at the start, 25 at the end
    write_moves_chart([*move_rows("Li Wei"), *move_rows("王芳")], grouped, "By owner")
    assert {(0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)} <= png_pixels(grouped)[2]


def test_move_panels_follow_the_policy_order() -> None:
    (panel,) = move_panels(list(reversed(move_rows())), POLICIES)
    assert [b.stage for b in panel.bars][-3:] == ["won", "lost", "abandoned"]
    assert [b.label for b in panel.bars][:2] == ["Identified", "Contacted"]
    assert panel.bars[0].total("in", "amount") == 14 * 250_000


def test_a_duration_chart_in_both_formats(tmp_path: Path) -> None:
    png, html = tmp_path / "cycle.png", tmp_path / "cycle.html"
    write_duration_chart(duration_rows(), png, "Cycle time 2026-Q1", policies=POLICIES)
    write_duration_chart([Stay("seven-stage", "won", 3, 40.0, 41.0, 44.2)], html, "Cycle time")
    width, height, colours = png_pixels(png)
    assert width >= 1000 and height >= 400
    assert WON_GREEN in colours
    text = html.read_text(encoding="utf-8")
    assert "opened to won" in text and "seven-stage" in text
    assert "median 41.0 d, mean 40.0, p90 44.2 (n=3)" in text


def test_duration_rows_without_exits_are_labelled_not_drawn(tmp_path: Path) -> None:
    path = tmp_path / "cycle.html"
    write_duration_chart(duration_rows(), path, "Cycle time 2026-Q1")
    text = path.read_text(encoding="utf-8")
    assert "no exits in the window" in text
    assert "median 11.5 d, mean 14.2, p90 29.8 (n=28)" in text


def test_an_empty_funnel_still_writes_a_chart(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    write_funnel_chart([], path, TITLE)
    assert path.read_bytes()[:8] == PNG_MAGIC
    write_moves_chart([], path, TITLE)
    assert path.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("name", ["chart.svg", "chart.pdf", "chart", "chart.png.txt"])
def test_other_formats_are_refused_naming_the_suffix(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    suffix = path.suffix or "no suffix"
    with pytest.raises(ValueError, match=re.escape(suffix)):
        write_funnel_chart(funnel_rows(), path, TITLE)
    with pytest.raises(ValueError, match=re.escape(suffix)):
        write_duration_chart(duration_rows(), path, TITLE)
    with pytest.raises(ValueError, match=re.escape(suffix)):
        write_moves_chart(move_rows(), path, TITLE)
    assert not path.exists()


def test_panels_follow_the_policy_order_with_the_outcomes_apart() -> None:
    shuffled = list(reversed(funnel_rows()))
    (panel,) = funnel_panels(shuffled, POLICIES)
    assert [b.stage for b in panel.bars] == [
        "identified", "contacted", "qualified", "developed", "committed",
        "won", "lost", "abandoned",
    ]  # fmt: skip
    positions = panel.positions()
    separator = panel.separator()
    assert separator is not None and positions[4] < separator < positions[5]
    assert positions[5] - positions[4] > positions[1] - positions[0]  # a visible gap


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0, "0"), (830, "830"), (12_500, "12.5k"), (999_999, "1M"), (1_250_000, "1.25M"),
     (13_562_500, "13.6M"), (2_400_000_000, "2.4B"), (0.5, "0.50")],
)  # fmt: skip
def test_compact_amounts(value: float, shown: str) -> None:
    assert compact(value) == shown
