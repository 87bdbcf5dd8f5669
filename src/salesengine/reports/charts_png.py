"""The charts as PNG images, drawn with matplotlib's Agg canvas (never a display).

Only text the installed fonts can draw is written: a group name in a script no font
covers (Chinese without a CJK font) is replaced by a numbered stand-in, rather than by
empty boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

from matplotlib import font_manager, rc_context
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from salesengine.reports.charts import (
    OUTCOME_COLOURS,
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
WIDTH = 12.0  # inches
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
MEASURES = (("deals", "deals"), ("amount", "amount"))
INK = "#333333"
MOVED_IN, MOVED_OUT = "#2e7d32", "#c62828"
MEDIAN_COLOUR = "#4a90c2"
LIMIT_COLOUR = "#c62828"


def funnel(panels: Sequence[FunnelPanel], groups: list[str | None], path: Path, title: str) -> None:
    fonts = _fonts()
    height = sum(0.42 * (len(p.bars) + 1) + 1.0 for p in panels) + 1.2
    with rc_context({"font.family": list(fonts)}):
        fig = Figure(figsize=(WIDTH, max(height, 3.5)), dpi=DPI, layout="constrained")
        fig.suptitle(_safe(title, fonts), fontsize=14, fontweight="bold")
        axes = fig.subplots(max(len(panels), 1), 2, squeeze=False)
        for row, panel in enumerate(panels):
            for col, (measure, heading) in enumerate(MEASURES):
                ax: Axes = axes[row][col]
                unit = f" ({panel.currency})" if measure == "amount" else ""
                ax.set_title(_safe(f"{panel.policy}: {heading}{unit}", fonts), loc="left")
                _funnel_axes(ax, panel, groups, measure, fonts, show_labels=col == 0)
        if not panels:
            for ax in axes[0]:
                ax.set_axis_off()
            axes[0][0].text(0.5, 0.5, "no deals", ha="center", va="center", fontsize=12)
        if grouped(groups):
            handles = [Patch(color=group_colour(groups, g)) for g in groups]
            names = [_safe(group_name(g), fonts, i) for i, g in enumerate(groups, 1)]
            fig.legend(handles, names, loc="outside lower center", ncols=min(len(groups), 6))
        _save(fig, path)


def _funnel_axes(
    ax: Axes,
    panel: FunnelPanel,
    groups: list[str | None],
    measure: str,
    fonts: tuple[str, ...],
    *,
    show_labels: bool,
) -> None:
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
    separator = panel.separator()
    if separator is not None:
        ax.axhline(separator, color="#555555", linewidth=0.8, linestyle=(0, (4, 3)))
    ax.set_xlim(-widest * 0.55, widest * 0.8)
    ax.set_ylim(max(positions, default=0) + 0.6, -0.6)
    labels = [_safe(b.label, fonts) for b in panel.bars] if show_labels else []
    ax.set_yticks(positions, labels)
    ax.tick_params(axis="y", length=0, labelsize=10)
    ax.set_xticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)


def moves(panels: Sequence[MovePanel], groups: list[str | None], path: Path, title: str) -> None:
    fonts = _fonts()
    height = sum(0.42 * (len(p.bars) + 1) + 1.0 for p in panels) + 1.4
    with rc_context({"font.family": list(fonts)}):
        fig = Figure(figsize=(WIDTH, max(height, 3.5)), dpi=DPI, layout="constrained")
        fig.suptitle(_safe(title, fonts), fontsize=14, fontweight="bold")
        axes = fig.subplots(max(len(panels), 1), 2, squeeze=False)
        for row, panel in enumerate(panels):
            for col, (measure, heading) in enumerate(MEASURES):
                ax: Axes = axes[row][col]
                unit = f" ({panel.currency})" if measure == "amount" else ""
                text = f"{panel.policy}: {heading}{unit}, out | in, start -> end"
                ax.set_title(_safe(text, fonts), loc="left")
                _move_axes(ax, panel, groups, measure, fonts, show_labels=col == 0)
        if not panels:
            for ax in axes[0]:
                ax.set_axis_off()
            axes[0][0].text(0.5, 0.5, "nothing moved", ha="center", va="center", fontsize=12)
        if grouped(groups):
            handles = [Patch(color=group_colour(groups, g)) for g in groups]
            names = [_safe(group_name(g), fonts, i) for i, g in enumerate(groups, 1)]
        else:
            handles = [Patch(color=MOVED_IN), Patch(color=MOVED_OUT)]
            names = ["moved in", "moved out"]
        fig.legend(handles, names, loc="outside lower center", ncols=min(len(handles), 6))
        _save(fig, path)


def _move_axes(
    ax: Axes,
    panel: MovePanel,
    groups: list[str | None],
    measure: str,
    fonts: tuple[str, ...],
    *,
    show_labels: bool,
) -> None:
    positions = panel.positions()
    widest = max((b.total(c, measure) for b in panel.bars for c in ("in", "out")), default=0.0)
    widest = widest or 1.0
    for bar, y in zip(panel.bars, positions, strict=True):
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
    separator = panel.separator()
    if separator is not None:
        ax.axhline(separator, color="#555555", linewidth=0.8, linestyle=(0, (4, 3)))
    ax.set_xlim(-widest * 1.4, widest * 2.1)
    ax.set_ylim(max(positions, default=0) + 0.6, -0.6)
    labels = [_safe(b.label, fonts) for b in panel.bars] if show_labels else []
    ax.set_yticks(positions, labels)
    ax.tick_params(axis="y", length=0, labelsize=10)
    ax.set_xticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)


def durations(
    panels: Sequence[DurationPanel], groups: list[str | None], path: Path, title: str
) -> None:
    fonts = _fonts()
    height = sum(0.42 * (len(p.bars) + 1) + 1.0 for p in panels) + 1.4
    with rc_context({"font.family": list(fonts)}):
        fig = Figure(figsize=(WIDTH, max(height, 3.5)), dpi=DPI, layout="constrained")
        fig.suptitle(_safe(title, fonts), fontsize=14, fontweight="bold")
        axes = fig.subplots(max(len(panels), 1), 1, squeeze=False)
        for row, panel in enumerate(panels):
            _duration_axes(axes[row][0], panel, groups, fonts)
        if not panels:
            axes[0][0].set_axis_off()
            axes[0][0].text(0.5, 0.5, "no stage exits", ha="center", va="center", fontsize=12)
        fig.legend(handles=_duration_legend(groups, fonts), loc="outside lower center", ncols=6)
        _save(fig, path)


def _duration_legend(groups: list[str | None], fonts: tuple[str, ...]) -> list[Patch | Line2D]:
    handles: list[Patch | Line2D] = []
    if grouped(groups):
        for i, g in enumerate(groups, 1):
            name = _safe(group_name(g), fonts, i)
            handles.append(Patch(color=group_colour(groups, g), label=name))
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


def _duration_axes(
    ax: Axes, panel: DurationPanel, groups: list[str | None], fonts: tuple[str, ...]
) -> None:
    stages = list(dict.fromkeys(b.stage for b in panel.bars))
    labels = {b.stage: b.label for b in panel.bars}
    lanes = len(groups) if grouped(groups) else 1
    height = 0.8 / lanes
    longest = max((b.p90 or b.median or 0.0 for b in panel.bars), default=0.0)
    longest = max([longest, *(b.limit or 0 for b in panel.bars)]) or 1.0
    for bar in panel.bars:
        lane = groups.index(bar.group) if grouped(groups) else 0
        y = stages.index(bar.stage) - 0.4 + height * (lane + 0.5)
        colour = group_colour(groups, bar.group) if grouped(groups) else MEDIAN_COLOUR
        if bar.stage == "won" and not grouped(groups):
            colour = OUTCOME_COLOURS["won"]
        if bar.median is not None and bar.count:
            ax.barh(y, bar.median, height=height * 0.85, color=colour)
            if bar.p90 is not None:
                ax.plot([bar.median, bar.p90], [y, y], color=INK, linewidth=1)
                ax.plot([bar.p90], [y], color=INK, marker="|", markersize=10)
            if bar.mean is not None:
                ax.plot([bar.mean], [y], color=INK, marker="D", markersize=5)
        end = max(bar.p90 or 0.0, bar.median or 0.0, bar.mean or 0.0, bar.limit or 0.0)
        ax.text(end + longest * 0.01, y, bar.caption(), va="center", fontsize=8.5)
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


def _save(fig: Figure, path: Path) -> None:
    FigureCanvasAgg(fig)  # draw off-screen: no display is ever needed
    fig.savefig(path, format="png", dpi=DPI, facecolor="white")


@cache
def _fonts() -> tuple[str, ...]:
    """DejaVu Sans, then the first installed CJK family, if any."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return ("DejaVu Sans", *[f for f in CJK_FAMILIES if f in installed][:1])


@cache
def _faces(fonts: tuple[str, ...]) -> tuple[object, ...]:
    faces = []
    for family in fonts:
        prop = font_manager.FontProperties(family=family)
        faces.append(font_manager.get_font(font_manager.findfont(prop)))
    return tuple(faces)


def _drawable(text: str, fonts: tuple[str, ...]) -> bool:
    faces = _faces(fonts)
    return all(
        c.isspace() or any(f.get_char_index(ord(c)) for f in faces)  # type: ignore[attr-defined]
        for c in text
    )


def _safe(text: str, fonts: tuple[str, ...], number: int | None = None) -> str:
    """The text, or a stand-in when the installed fonts cannot draw it."""
    if _drawable(text, fonts):
        return text
    kept = "".join(c for c in text if c.isascii()).strip()
    stand_in = f"#{number}" if number is not None else "?"
    return f"{kept} [{stand_in}]" if kept else f"[{stand_in}]"
