"""Charts of the funnel, of the moves between two instants and of stage durations, as a
PNG (matplotlib) or a self-contained, interactive HTML file (plotly).

Both formats draw the same picture, laid out once in charts_layout.py; charts_png.py and
charts_html.py each draw it in their own library. The plotting libraries are imported
only when a chart is written, keeping the command line quick to start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from salesengine.domain.policy import FunnelPolicy
from salesengine.reports.charts_layout import (
    DurationPanel,
    DurationRow,
    FunnelPanel,
    MovePanel,
    duration_panels,
    funnel_panels,
    move_panels,
    panel_groups,
)
from salesengine.reports.funnel import FunnelReportRow
from salesengine.reports.funnel_moves import MoveRow

FORMATS = (".png", ".html")


class ChartFormat(Protocol):
    """What a format's module draws: each kind of chart, from its panels."""

    def draw_funnel(
        self, panels: Sequence[FunnelPanel], groups: list[str | None], path: Path, title: str
    ) -> None: ...

    def draw_moves(
        self, panels: Sequence[MovePanel], groups: list[str | None], path: Path, title: str
    ) -> None: ...

    def draw_durations(
        self, panels: Sequence[DurationPanel], groups: list[str | None], path: Path, title: str
    ) -> None: ...


def write_funnel_chart(
    rows: Sequence[FunnelReportRow],
    path: Path,
    title: str,
    *,
    policies: Mapping[str, FunnelPolicy] | None = None,
) -> None:
    """Funnel panels (deals and amount side by side) per policy and currency.

    Grouped rows (``--by``) are drawn as stacked bars, one colour per group.
    ``policies``, when given, supplies stage names and orders stages by policy.
    """
    chart = chart_format(path)
    panels = funnel_panels(rows, policies)
    chart.draw_funnel(panels, panel_groups(panels), path, title)


def write_moves_chart(
    rows: Sequence[MoveRow],
    path: Path,
    title: str,
    *,
    policies: Mapping[str, FunnelPolicy] | None = None,
) -> None:
    """What moved between two instants, per policy and currency: per stage a bar to the
    right for the moves in and one to the left for the moves out (deals and amount side by
    side), and the stage's deals at the start and the end. Grouped rows are stacked."""
    chart = chart_format(path)
    panels = move_panels(rows, policies)
    chart.draw_moves(panels, panel_groups(panels), path, title)


def write_duration_chart(
    rows: Sequence[DurationRow],
    path: Path,
    title: str,
    *,
    policies: Mapping[str, FunnelPolicy] | None = None,
) -> None:
    """Days per stage per policy: a bar to the median, a mark at the mean, a whisker to p90.

    Rows carrying a ``group`` attribute (``--by``) are drawn side by side per stage.
    ``policies``, when given, supplies stage names and each stage's time limit.
    """
    chart = chart_format(path)
    panels = duration_panels(rows, policies)
    chart.draw_durations(panels, panel_groups(panels), path, title)


def chart_format(path: Path) -> ChartFormat:
    """The module that draws the path's format; a suffix of no format is refused."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        shown = suffix or "no suffix"
        raise ValueError(f"cannot write a chart as '{shown}' (use {' or '.join(FORMATS)})")
    if suffix == ".png":
        from salesengine.reports import charts_png

        return charts_png
    from salesengine.reports import charts_html

    return charts_html
