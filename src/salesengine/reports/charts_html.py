"""The charts as one self-contained HTML file (plotly, with plotly.js inlined: it opens
offline). Hovering a bar shows its exact figures and the stage's Chinese name."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from salesengine.reports.charts import (
    OUTCOME_COLOURS,
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

WIDTH = 1200
MEDIAN_COLOUR = "#4a90c2"
INK = "#333333"
LIMIT_COLOUR = "#c62828"
MOVED_IN, MOVED_OUT = "#2e7d32", "#c62828"
FONT = "DejaVu Sans, Arial, 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif"


def funnel(panels: Sequence[FunnelPanel], groups: list[str | None], path: Path, title: str) -> None:
    rows = max(len(panels), 1)
    titles = [
        f"{p.policy}: {m}{f' ({p.currency})' if m == 'amount' else ''}"
        for p in panels
        for m in ("deals", "amount")
    ]
    fig = make_subplots(
        rows=rows,
        cols=2,
        subplot_titles=titles or None,
        horizontal_spacing=0.14,
        vertical_spacing=min(0.3 / rows, 0.12),
    )
    shown: set[str | None] = set()
    for row, panel in enumerate(panels, 1):
        for col, measure in enumerate(("deals", "amount"), 1):
            _funnel_bars(fig, panel, groups, measure, row, col, shown)
    if not panels:
        fig.add_annotation(text="no deals", showarrow=False, x=0.5, y=0.5, xref="paper")
    height = sum(32 * (len(p.bars) + 1) + 90 for p in panels) + 160
    _finish(fig, title, height, legend=grouped(groups))
    _write(fig, path)


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
        fig.add_trace(
            go.Bar(
                x=xs,
                y=ys,
                base=bases,
                orientation="h",
                marker={"color": colours, "line": {"color": "white", "width": 1}},
                width=0.72,
                name=group_name(group),
                legendgroup=group_name(group),
                showlegend=grouped(groups) and group not in shown,
                hovertext=hovers,
                hoverinfo="text",
            ),
            row=row,
            col=col,
        )
        shown.add(group)
    fig.add_trace(
        go.Scatter(
            x=[t / 2 + widest * 0.02 for t in totals],
            y=positions,
            text=[compact(t) for t in totals],
            mode="text",
            textposition="middle right",
            showlegend=False,
            hoverinfo="skip",
        ),
        row=row,
        col=col,
    )
    separator = panel.separator()
    if separator is not None:
        fig.add_hline(
            y=separator, line={"dash": "dot", "color": "#555", "width": 1}, row=row, col=col
        )
    fig.update_xaxes(
        range=[-widest * 0.55, widest * 0.8], visible=False, fixedrange=True, row=row, col=col
    )
    fig.update_yaxes(
        tickvals=positions,
        ticktext=[escape(b.label) for b in panel.bars] if col == 1 else [""] * len(positions),
        range=[max(positions, default=0) + 0.6, -0.6],
        fixedrange=True,
        row=row,
        col=col,
    )


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


def moves(panels: Sequence[MovePanel], groups: list[str | None], path: Path, title: str) -> None:
    rows = max(len(panels), 1)
    titles = [
        f"{p.policy}: {m}{f' ({p.currency})' if m == 'amount' else ''}, out | in"
        for p in panels
        for m in ("deals", "amount")
    ]
    fig = make_subplots(
        rows=rows,
        cols=2,
        subplot_titles=[escape(t) for t in titles] or None,
        horizontal_spacing=0.14,
        vertical_spacing=min(0.3 / rows, 0.12),
    )
    shown: set[str] = set()
    for row, panel in enumerate(panels, 1):
        for col, measure in enumerate(("deals", "amount"), 1):
            _move_bars(fig, panel, groups, measure, row, col, shown)
    if not panels:
        fig.add_annotation(text="nothing moved", showarrow=False, x=0.5, y=0.5, xref="paper")
    height = sum(32 * (len(p.bars) + 1) + 90 for p in panels) + 160
    _finish(fig, title, height, legend=True)
    _write(fig, path)


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
            fig.add_trace(
                go.Bar(
                    x=xs,
                    y=ys,
                    base=bases,
                    orientation="h",
                    marker={"color": colour, "line": {"color": "white", "width": 1}},
                    opacity=1.0 if column == "in" else 0.8,
                    width=0.72,
                    name=name,
                    legendgroup=name,
                    showlegend=name not in shown,
                    hovertext=hovers,
                    hoverinfo="text",
                ),
                row=row,
                col=col,
            )
            shown.add(name)
    labels = [
        f"{compact(b.total('start', measure))} → {compact(b.total('end', measure))}"
        for b in panel.bars
    ]
    fig.add_trace(
        go.Scatter(
            x=[widest * 1.15] * len(labels),
            y=positions,
            text=labels,
            mode="text",
            textposition="middle right",
            showlegend=False,
            hoverinfo="skip",
        ),
        row=row,
        col=col,
    )
    fig.add_vline(x=0, line={"color": "#555", "width": 1}, row=row, col=col)
    separator = panel.separator()
    if separator is not None:
        fig.add_hline(
            y=separator, line={"dash": "dot", "color": "#555", "width": 1}, row=row, col=col
        )
    fig.update_xaxes(
        range=[-widest * 1.2, widest * 1.9], visible=False, fixedrange=True, row=row, col=col
    )
    fig.update_yaxes(
        tickvals=positions,
        ticktext=[escape(b.label) for b in panel.bars] if col == 1 else [""] * len(positions),
        range=[max(positions, default=0) + 0.6, -0.6],
        fixedrange=True,
        row=row,
        col=col,
    )


def _move_hover(panel: MovePanel, bar: MoveBar, r: Any, column: str, is_grouped: bool) -> str:
    lines = [f"<b>{escape(bar.hover)}</b>"]
    if is_grouped:
        lines.append(escape(group_name(r.group)))
    lines.append(f"moved {column}: {r[column].deals} deals")
    lines.append(f"amount: {r[column].amount:,.2f} {escape(panel.currency)}")
    lines.append(f"start {r['start'].deals} → end {r['end'].deals} deals")
    return "<br>".join(lines)


def durations(
    panels: Sequence[DurationPanel], groups: list[str | None], path: Path, title: str
) -> None:
    rows = max(len(panels), 1)
    fig = make_subplots(
        rows=rows,
        cols=1,
        subplot_titles=[escape(p.policy) for p in panels] or None,
        vertical_spacing=min(0.3 / rows, 0.12),
    )
    shown: set[str] = set()
    for row, panel in enumerate(panels, 1):
        _duration_bars(fig, panel, groups, row, shown)
    if not panels:
        fig.add_annotation(text="no stage exits", showarrow=False, x=0.5, y=0.5, xref="paper")
    height = sum(32 * (len(p.bars) + 1) + 90 for p in panels) + 160
    _finish(fig, title, height, legend=True)
    _write(fig, path)


def _duration_bars(
    fig: go.Figure, panel: DurationPanel, groups: list[str | None], row: int, shown: set[str]
) -> None:
    stages = list(dict.fromkeys(b.stage for b in panel.bars))
    labels = {b.stage: b.label for b in panel.bars}
    lanes = len(groups) if grouped(groups) else 1
    height = 0.8 / lanes
    longest = max((b.p90 or b.median or 0.0 for b in panel.bars), default=0.0)
    longest = max([longest, *(b.limit or 0 for b in panel.bars)]) or 1.0

    def trace(name: str, item: go.Bar | go.Scatter) -> None:
        item.update(name=name, legendgroup=name, showlegend=name not in shown)
        shown.add(name)
        fig.add_trace(item, row=row, col=1)

    for bar in panel.bars:
        lane = groups.index(bar.group) if grouped(groups) else 0
        y = stages.index(bar.stage) - 0.4 + height * (lane + 0.5)
        hover = f"<b>{escape(bar.label)}</b><br>{escape(bar.caption())}"
        if grouped(groups):
            hover += f"<br>{escape(group_name(bar.group))}"
        if bar.median is not None and bar.count:
            colour = group_colour(groups, bar.group) if grouped(groups) else MEDIAN_COLOUR
            if bar.stage == "won" and not grouped(groups):
                colour = OUTCOME_COLOURS["won"]
            trace(
                group_name(bar.group) if grouped(groups) else "median",
                go.Bar(
                    x=[bar.median],
                    y=[y],
                    orientation="h",
                    width=height * 0.85,
                    marker={"color": colour},
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
        end = max(bar.p90 or 0.0, bar.median or 0.0, bar.mean or 0.0, bar.limit or 0.0)
        fig.add_annotation(
            x=end + longest * 0.01,
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


def _finish(fig: go.Figure, title: str, height: int, *, legend: bool) -> None:
    fig.update_layout(
        title={"text": escape(title), "x": 0.01, "font": {"size": 20}},
        width=WIDTH,
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
