"""The charts as one self-contained HTML file (plotly, with plotly.js inlined: it opens
offline). Hovering a bar shows its exact figures and the stage's Chinese name."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from salesengine.reports.charts_layout import (
    INK,
    LIMIT_COLOUR,
    MOVED_IN,
    MOVED_OUT,
    PANEL_MEASURES,
    DurationPanel,
    FunnelPanel,
    MoveBar,
    MovePanel,
    compact,
    group_colour,
    group_name,
    grouped,
    stage_colour,
)

WIDTH_PX = 1200
FONT = "DejaVu Sans, Arial, 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif"


def draw_funnel(
    panels: Sequence[FunnelPanel], groups: list[str | None], path: Path, title: str
) -> None:
    fig = _subplots(panels, 2, _measure_titles(panels))
    shown: set[str | None] = set()
    for row, panel in enumerate(panels, 1):
        for col, measure in enumerate(PANEL_MEASURES, 1):
            _funnel_bars(fig, panel, groups, measure, row, col, shown)
    _save(fig, panels, path, title, empty="no deals", legend=grouped(groups))


def _funnel_bars(
    fig: go.Figure,
    panel: FunnelPanel,
    groups: list[str | None],
    measure: str,
    row: int,
    col: int,
    shown: set[str | None],
) -> None:
    positions = panel.positions()
    totals = [b.total(measure) for b in panel.bars]
    widest = max(totals, default=0.0) or 1.0
    open_stages = sum(not b.outcome for b in panel.bars)
    for group in groups:
        xs, bases, ys, colours, hovers = [], [], [], [], []
        for i, (bar, y) in enumerate(zip(panel.bars, positions, strict=True)):
            left = -totals[i] / 2  # centred: the bars draw the funnel's outline
            for segment in bar.segments:
                width = float(getattr(segment, measure))
                if segment.group == group:
                    xs.append(width)
                    bases.append(left)
                    ys.append(y)
                    colours.append(
                        group_colour(groups, group)
                        if grouped(groups)
                        else stage_colour(bar, i, open_stages)
                    )
                    hovers.append(_funnel_hover(panel, bar.hover, segment, grouped(groups)))
                left += width
        if not xs:
            continue
        name = group_name(group)
        showlegend = grouped(groups) and group not in shown
        fig.add_trace(_bars(xs, ys, bases, hovers, colours, name, showlegend), row=row, col=col)
        shown.add(group)
    xs = [t / 2 + widest * 0.02 for t in totals]
    fig.add_trace(_texts(xs, positions, [compact(t) for t in totals]), row=row, col=col)
    _stage_axis(fig, panel, positions, (-widest * 0.55, widest * 0.8), row, col)


def _funnel_hover(panel: FunnelPanel, stage: str, segment: Any, is_grouped: bool) -> str:
    lines = [f"<b>{escape(stage)}</b>"]
    if is_grouped:
        lines.append(escape(group_name(segment.group)))
    lines += [
        f"deals: {segment.deals}",
        f"amount: {segment.amount:,.2f} {escape(panel.currency)}",
        f"weighted: {segment.weighted:,.2f} {escape(panel.currency)}",
    ]
    return "<br>".join(lines)


def draw_moves(
    panels: Sequence[MovePanel], groups: list[str | None], path: Path, title: str
) -> None:
    fig = _subplots(panels, 2, _measure_titles(panels, note=", out | in"))
    shown: set[str] = set()
    for row, panel in enumerate(panels, 1):
        for col, measure in enumerate(PANEL_MEASURES, 1):
            _move_bars(fig, panel, groups, measure, row, col, shown)
    _save(fig, panels, path, title, empty="nothing moved", legend=True)


def _move_bars(
    fig: go.Figure,
    panel: MovePanel,
    groups: list[str | None],
    measure: str,
    row: int,
    col: int,
    shown: set[str],
) -> None:
    positions = panel.positions()
    widest = max((b.total(c, measure) for b in panel.bars for c in ("in", "out")), default=0.0)
    widest = widest or 1.0
    is_grouped = grouped(groups)
    for group in groups:
        for column, sign in (("in", 1), ("out", -1)):
            xs, bases, ys, hovers = [], [], [], []
            for bar, y in zip(panel.bars, positions, strict=True):
                done = 0.0
                for r in bar.rows:
                    value = float(getattr(r[column], measure))
                    if r.group == group:
                        xs.append(sign * value)
                        bases.append(sign * done)
                        ys.append(y)
                        hovers.append(_move_hover(panel, bar, r, column, is_grouped))
                    done += value
            if not any(xs):
                continue
            name = group_name(group) if is_grouped else f"moved {column}"
            colour = group_colour(groups, group) if is_grouped else (
                MOVED_IN if column == "in" else MOVED_OUT
            )  # fmt: skip
            opacity = 1.0 if column == "in" else 0.8
            bars = _bars(xs, ys, bases, hovers, colour, name, name not in shown, opacity=opacity)
            fig.add_trace(bars, row=row, col=col)
            shown.add(name)
    labels = [
        f"{compact(b.total('start', measure))} → {compact(b.total('end', measure))}"
        for b in panel.bars
    ]
    fig.add_trace(_texts([widest * 1.15] * len(labels), positions, labels), row=row, col=col)
    fig.add_vline(x=0, line={"color": "#555", "width": 1}, row=row, col=col)
    _stage_axis(fig, panel, positions, (-widest * 1.2, widest * 1.9), row, col)


def _move_hover(panel: MovePanel, bar: MoveBar, r: Any, column: str, is_grouped: bool) -> str:
    lines = [f"<b>{escape(bar.hover)}</b>"]
    if is_grouped:
        lines.append(escape(group_name(r.group)))
    lines.append(f"moved {column}: {r[column].deals} deals")
    lines.append(f"amount: {r[column].amount:,.2f} {escape(panel.currency)}")
    lines.append(f"start {r['start'].deals} → end {r['end'].deals} deals")
    return "<br>".join(lines)


def draw_durations(
    panels: Sequence[DurationPanel], groups: list[str | None], path: Path, title: str
) -> None:
    fig = _subplots(panels, 1, [p.policy for p in panels])
    shown: set[str] = set()
    for row, panel in enumerate(panels, 1):
        _duration_bars(fig, panel, groups, row, shown)
    _save(fig, panels, path, title, empty="no stage exits", legend=True)


def _duration_bars(
    fig: go.Figure, panel: DurationPanel, groups: list[str | None], row: int, shown: set[str]
) -> None:
    stages, labels, longest = panel.stages(), panel.labels(), panel.longest()
    height = panel.lane_height(groups)

    def trace(name: str, item: go.Bar | go.Scatter) -> None:
        item.update(name=name, legendgroup=name, showlegend=name not in shown)
        shown.add(name)
        fig.add_trace(item, row=row, col=1)

    for bar in panel.bars:
        y = panel.y(bar, groups)
        hover = f"<b>{escape(bar.label)}</b><br>{escape(bar.caption())}"
        if grouped(groups):
            hover += f"<br>{escape(group_name(bar.group))}"
        if bar.median is not None and bar.count:
            trace(
                group_name(bar.group) if grouped(groups) else "median",
                go.Bar(
                    x=[bar.median],
                    y=[y],
                    orientation="h",
                    width=height * 0.85,
                    marker={"color": bar.colour(groups)},
                    hovertext=[hover],
                    hoverinfo="text",
                ),
            )
        marks = [
            ("mean", bar.mean if bar.count else None, "diamond", INK, 8),
            ("90th percentile", bar.p90 if bar.count else None, "line-ns-open", INK, 14),
            ("stage limit", None if bar.limit is None else float(bar.limit), "line-ns-open",
             LIMIT_COLOUR, 18),
        ]  # fmt: skip
        for name, x, symbol, colour, size in marks:
            if x is not None:
                trace(
                    name,
                    go.Scatter(
                        x=[x],
                        y=[y],
                        mode="markers",
                        marker={"symbol": symbol, "color": colour, "size": size,
                                "line": {"width": 2, "color": colour}},
                        hovertext=[f"{escape(name)}: {x:.1f} days"],
                        hoverinfo="text",
                    ),
                )  # fmt: skip
        fig.add_annotation(
            x=bar.end() + longest * 0.01,
            y=y,
            text=escape(bar.caption()),
            showarrow=False,
            xanchor="left",
            font={"size": 11},
            row=row,
            col=1,
        )
    fig.update_xaxes(title_text="days", range=[0, longest * 1.6], row=row, col=1)
    fig.update_yaxes(
        tickvals=list(range(len(stages))),
        ticktext=[escape(labels[s]) for s in stages],
        range=[len(stages) - 0.5, -0.5],
        row=row,
        col=1,
    )


def _measure_titles(
    panels: Sequence[FunnelPanel] | Sequence[MovePanel], note: str = ""
) -> list[str]:
    """Each panel's two subplot titles, deals then amount."""
    return [
        f"{p.policy}: {m}{f' ({p.currency})' if m == 'amount' else ''}{note}"
        for p in panels
        for m in PANEL_MEASURES
    ]


def _subplots(
    panels: Sequence[FunnelPanel] | Sequence[MovePanel] | Sequence[DurationPanel],
    columns: int,
    titles: list[str],
) -> go.Figure:
    """A row of ``columns`` subplots per panel (one row when there is none)."""
    rows = max(len(panels), 1)
    apart = {"horizontal_spacing": 0.14} if columns > 1 else {}
    return make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[escape(t) for t in titles] or None,
        vertical_spacing=min(0.3 / rows, 0.12),
        **apart,
    )


def _bars(
    xs: list[float],
    ys: list[float],
    bases: list[float],
    hovers: list[str],
    colour: str | list[str],
    name: str,
    showlegend: bool,
    **style: float,
) -> go.Bar:
    """Horizontal bars from ``bases`` to ``bases + xs``, one legend entry for all."""
    return go.Bar(
        x=xs,
        y=ys,
        base=bases,
        orientation="h",
        marker={"color": colour, "line": {"color": "white", "width": 1}},
        width=0.72,
        name=name,
        legendgroup=name,
        showlegend=showlegend,
        hovertext=hovers,
        hoverinfo="text",
        **style,
    )


def _texts(xs: list[float], ys: list[float], texts: list[str]) -> go.Scatter:
    """Texts beside the bars, at (x, y) each: no hover, no legend."""
    return go.Scatter(
        x=xs,
        y=ys,
        text=texts,
        mode="text",
        textposition="middle right",
        showlegend=False,
        hoverinfo="skip",
    )


def _stage_axis(
    fig: go.Figure,
    panel: FunnelPanel | MovePanel,
    positions: list[float],
    x_range: tuple[float, float],
    row: int,
    col: int,
) -> None:
    """The stages down the y axis (named in the first column), the open funnel apart from
    the outcomes; the x axis hidden."""
    separator = panel.separator()
    if separator is not None:
        fig.add_hline(
            y=separator, line={"dash": "dot", "color": "#555", "width": 1}, row=row, col=col
        )
    fig.update_xaxes(range=list(x_range), visible=False, fixedrange=True, row=row, col=col)
    fig.update_yaxes(
        tickvals=positions,
        ticktext=[escape(b.label) for b in panel.bars] if col == 1 else [""] * len(positions),
        range=[max(positions, default=0) + 0.6, -0.6],
        fixedrange=True,
        row=row,
        col=col,
    )


def _save(
    fig: go.Figure,
    panels: Sequence[FunnelPanel] | Sequence[MovePanel] | Sequence[DurationPanel],
    path: Path,
    title: str,
    *,
    empty: str,
    legend: bool,
) -> None:
    """Laid out as tall as the panels' bars need, with ``empty`` written when there are
    none, and written to ``path``."""
    if not panels:
        fig.add_annotation(text=empty, showarrow=False, x=0.5, y=0.5, xref="paper")
    height = sum(32 * (len(p.bars) + 1) + 90 for p in panels) + 160
    _finish(fig, title, height, legend=legend)
    _write(fig, path)


def _finish(fig: go.Figure, title: str, height: int, *, legend: bool) -> None:
    fig.update_layout(
        title={"text": escape(title), "x": 0.01, "font": {"size": 20}},
        width=WIDTH_PX,
        height=height,
        barmode="overlay",
        bargap=0.2,
        showlegend=legend,
        legend={"orientation": "h", "y": -0.05, "yanchor": "top"},
        plot_bgcolor="white",
        font={"family": FONT, "size": 13},
        margin={"l": 160, "r": 40, "t": 90, "b": 60},
    )


def _write(fig: go.Figure, path: Path) -> None:
    fig.write_html(path, include_plotlyjs=True, full_html=True, config={"displaylogo": False})
