"""The charts as PNG images, drawn with matplotlib's Agg canvas (never a display).

Only text the installed fonts can draw is written: a group name in a script no font
covers (Chinese without a CJK font) is replaced by a numbered stand-in, rather than by
empty boxes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache, partial
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from matplotlib import font_manager, rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from salesengine.reports.charts_layout import (
    INK,
    LIMIT_COLOUR,
    MEDIAN_COLOUR,
    MOVED_IN,
    MOVED_OUT,
    PANEL_MEASURES,
    DurationPanel,
    FunnelPanel,
    MovePanel,
    compact,
    group_colour,
    group_name,
    grouped,
    stage_colour,
)

DPI = 110
WIDTH_INCHES = 12.0
# Fonts with Chinese glyphs, tried after the default when installed.
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Heiti SC",
    "AR PL UMing CN",
)
Fonts = tuple[str, ...]


class Columns(NamedTuple):
    """What sets a chart of deals and amount columns apart, beside how it draws a panel."""

    margin: float  # inches of the figure's height beyond its panels'
    note: str  # after each axes' title
    empty: str  # said when there is no panel


FUNNEL = Columns(1.2, "", "no deals")
MOVES = Columns(1.4, ", out | in, start -> end", "nothing moved")
P = TypeVar("P", FunnelPanel, MovePanel)


def draw_funnel(
    panels: Sequence[FunnelPanel], groups: list[str | None], path: Path, title: str
) -> None:
    def legend(fonts: Fonts) -> list[Patch]:
        return _group_patches(groups, fonts) if grouped(groups) else []

    _draw_columns(FUNNEL, panels, path, title, partial(_funnel_axes, groups=groups), legend)


def _funnel_axes(ax: Axes, panel: FunnelPanel, measure: str, groups: list[str | None]) -> None:
    positions = panel.positions()
    totals = [b.total(measure) for b in panel.bars]
    widest = max(totals, default=0.0) or 1.0
    open_stages = sum(not b.outcome for b in panel.bars)
    for i, (bar, y) in enumerate(zip(panel.bars, positions, strict=True)):
        left = -totals[i] / 2  # centred: the bars draw the funnel's outline
        for segment in bar.segments:
            width = float(getattr(segment, measure))
            colour = (
                group_colour(groups, segment.group)
                if grouped(groups)
                else stage_colour(bar, i, open_stages)
            )
            ax.barh(y, width, left=left, height=0.72, color=colour, edgecolor="white")
            left += width
        text = compact(totals[i])
        ax.text(totals[i] / 2 + widest * 0.02, y, text, va="center", fontsize=9)
    ax.set_xlim(-widest * 0.55, widest * 0.8)


def draw_moves(
    panels: Sequence[MovePanel], groups: list[str | None], path: Path, title: str
) -> None:
    def legend(fonts: Fonts) -> list[Patch]:
        if grouped(groups):
            return _group_patches(groups, fonts)
        return [Patch(color=MOVED_IN, label="moved in"), Patch(color=MOVED_OUT, label="moved out")]

    _draw_columns(MOVES, panels, path, title, partial(_move_axes, groups=groups), legend)


def _move_axes(ax: Axes, panel: MovePanel, measure: str, groups: list[str | None]) -> None:
    widest = max((b.total(c, measure) for b in panel.bars for c in ("in", "out")), default=0.0)
    widest = widest or 1.0
    for bar, y in zip(panel.bars, panel.positions(), strict=True):
        right = left = 0.0
        for row in bar.rows:
            colour = group_colour(groups, row.group) if grouped(groups) else None
            moved_in = float(getattr(row["in"], measure))
            moved_out = float(getattr(row["out"], measure))  # drawn left of the axis
            ax.barh(y, moved_in, left=right, height=0.72, color=colour or MOVED_IN)
            ax.barh(y, -moved_out, left=-left, height=0.72, color=colour or MOVED_OUT, alpha=0.8)
            right += moved_in
            left += moved_out
        if right:
            ax.text(right + widest * 0.02, y, f"+{compact(right)}", va="center", fontsize=9)
        if left:
            ax.text(-left - widest * 0.02, y, f"-{compact(left)}", va="center", ha="right",
                    fontsize=9)  # fmt: skip
        start, end = bar.total("start", measure), bar.total("end", measure)
        ax.text(widest * 1.45, y, f"{compact(start)} -> {compact(end)}", va="center", fontsize=9)
    ax.axvline(0, color="#555555", linewidth=0.8)
    ax.set_xlim(-widest * 1.4, widest * 2.1)


def _draw_columns(
    kind: Columns,
    panels: Sequence[P],
    path: Path,
    title: str,
    draw: Callable[[Axes, P, str], None],
    legend: Callable[[Fonts], list[Patch]],
) -> None:
    """Two axes per panel, deals then amount, each titled and drawn by ``draw``, with the
    stages down its y axis, named in the first; ``legend``'s entries, if any, below."""
    with _figure(panels, 2, kind.margin, path, title) as (fig, axes, fonts):
        for row, panel in enumerate(panels):
            for col, measure in enumerate(PANEL_MEASURES):
                ax: Axes = axes[row][col]
                unit = f" ({panel.currency})" if measure == "amount" else ""
                text = f"{panel.policy}: {measure}{unit}{kind.note}"
                ax.set_title(_safe(text, fonts), loc="left")
                draw(ax, panel, measure)
                _stage_axis(ax, panel, fonts, show_labels=col == 0)
        if not panels:
            _say(axes, kind.empty)
        if handles := legend(fonts):
            fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6))


def _stage_axis(
    ax: Axes, panel: FunnelPanel | MovePanel, fonts: Fonts, *, show_labels: bool
) -> None:
    """The stages down the y axis, the open funnel apart from the outcomes; no x axis."""
    positions = panel.positions()
    separator = panel.separator()
    if separator is not None:
        ax.axhline(separator, color="#555555", linewidth=0.8, linestyle=(0, (4, 3)))
    ax.set_ylim(max(positions, default=0) + 0.6, -0.6)
    labels = [_safe(b.label, fonts) for b in panel.bars] if show_labels else []
    ax.set_yticks(positions, labels)
    ax.tick_params(axis="y", length=0, labelsize=10)
    ax.set_xticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)


def draw_durations(
    panels: Sequence[DurationPanel], groups: list[str | None], path: Path, title: str
) -> None:
    with _figure(panels, 1, 1.4, path, title) as (fig, axes, fonts):
        for row, panel in enumerate(panels):
            _duration_axes(axes[row][0], panel, groups, fonts)
        if not panels:
            _say(axes, "no stage exits")
        fig.legend(handles=_duration_legend(groups, fonts), loc="outside lower center", ncols=6)


def _duration_legend(groups: list[str | None], fonts: Fonts) -> list[Patch | Line2D]:
    handles: list[Patch | Line2D] = []
    if grouped(groups):
        handles.extend(_group_patches(groups, fonts))
    else:
        handles.append(Patch(color=MEDIAN_COLOUR, label="median"))
    return [
        *handles,
        Line2D([], [], color=INK, marker="D", linestyle="none", label="mean"),
        Line2D([], [], color=INK, marker="|", markersize=12, label="90th percentile"),
        Line2D(
            [],
            [],
            color=LIMIT_COLOUR,
            marker="|",
            markersize=14,
            linestyle="none",
            label="stage limit",
        ),
    ]


def _duration_axes(ax: Axes, panel: DurationPanel, groups: list[str | None], fonts: Fonts) -> None:
    stages, labels, longest = panel.stages(), panel.labels(), panel.longest()
    height = panel.lane_height(groups)
    for bar in panel.bars:
        y = panel.y(bar, groups)
        if bar.median is not None and bar.count:
            ax.barh(y, bar.median, height=height * 0.85, color=bar.colour(groups))
            if bar.p90 is not None:
                ax.plot([bar.median, bar.p90], [y, y], color=INK, linewidth=1)
                ax.plot([bar.p90], [y], color=INK, marker="|", markersize=10)
            if bar.mean is not None:
                ax.plot([bar.mean], [y], color=INK, marker="D", markersize=5)
        ax.text(bar.end() + longest * 0.01, y, bar.caption(), va="center", fontsize=8.5)
        if bar.limit is not None:
            ax.plot([bar.limit], [y], color=LIMIT_COLOUR, marker="|", markersize=14)
    ax.set_title(_safe(panel.policy, fonts), loc="left")
    ax.set_yticks(range(len(stages)), [_safe(labels[s], fonts) for s in stages])
    ax.set_ylim(len(stages) - 0.5, -0.5)
    ax.set_xlim(0, longest * 1.6)
    ax.set_xlabel("days")
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


@contextmanager
def _figure(
    panels: Sequence[FunnelPanel] | Sequence[MovePanel] | Sequence[DurationPanel],
    columns: int,
    margin: float,
    path: Path,
    title: str,
) -> Iterator[tuple[Figure, Any, Fonts]]:
    """A titled figure with a row of ``columns`` axes per panel (one row when there is
    none), as tall as the panels' bars need plus ``margin`` inches; saved to ``path`` once
    drawn."""
    fonts = _fonts()
    height = sum(0.42 * (len(p.bars) + 1) + 1.0 for p in panels) + margin
    with rc_context({"font.family": list(fonts)}):
        fig = Figure(figsize=(WIDTH_INCHES, max(height, 3.5)), dpi=DPI, layout="constrained")
        fig.suptitle(_safe(title, fonts), fontsize=14, fontweight="bold")
        axes = fig.subplots(max(len(panels), 1), columns, squeeze=False)
        yield fig, axes, fonts
        _save(fig, path)


def _say(axes: Any, text: str) -> None:
    """Written across an empty figure's only row instead of panels."""
    for ax in axes[0]:
        ax.set_axis_off()
    axes[0][0].text(0.5, 0.5, text, ha="center", va="center", fontsize=12)


def _group_patches(groups: list[str | None], fonts: Fonts) -> list[Patch]:
    """One legend entry per group, in its colour, named as the fonts can draw it."""
    return [
        Patch(color=group_colour(groups, g), label=_safe(group_name(g), fonts, i))
        for i, g in enumerate(groups, 1)
    ]


def _save(fig: Figure, path: Path) -> None:
    FigureCanvasAgg(fig)  # draw off-screen: no display is ever needed
    fig.savefig(path, format="png", dpi=DPI, facecolor="white")


@cache
def _fonts() -> Fonts:
    """DejaVu Sans, then the first installed CJK family, if any."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return ("DejaVu Sans", *[f for f in CJK_FAMILIES if f in installed][:1])


@cache
def _faces(fonts: Fonts) -> tuple[object, ...]:
    faces = []
    for family in fonts:
        prop = font_manager.FontProperties(family=family)
        faces.append(font_manager.get_font(font_manager.findfont(prop)))
    return tuple(faces)


def _drawable(text: str, fonts: Fonts) -> bool:
    faces = _faces(fonts)
    return all(
        c.isspace() or any(f.get_char_index(ord(c)) for f in faces)  # type: ignore[attr-defined]
        for c in text
    )


def _safe(text: str, fonts: Fonts, number: int | None = None) -> str:
    """The text, or a stand-in when the installed fonts cannot draw it."""
    if _drawable(text, fonts):
        return text
    kept = "".join(c for c in text if c.isascii()).strip()
    stand_in = f"#{number}" if number is not None else "?"
    return f"{kept} [{stand_in}]" if kept else f"[{stand_in}]"
