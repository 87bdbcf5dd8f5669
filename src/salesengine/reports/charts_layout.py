"""The picture every chart draws, whatever its format: rows gathered into panels, one per
policy (and currency), stages top to bottom in policy order, the outcomes below them and
apart from the open funnel; and the colours and short numbers both formats use.

Axis labels use stage keys or English names: a PNG can only show Chinese where a CJK
font is installed, and the HTML is read on machines we cannot check. Chinese names
appear in the hover text, which the reader's browser renders. This module imports no
plotting library: charts_png.py and charts_html.py draw what it lays out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, SupportsFloat

from salesengine.domain.policy import FunnelPolicy
from salesengine.domain.values import OUTCOMES
from salesengine.reports.funnel import FunnelReportRow
from salesengine.reports.funnel_moves import MoveRow, Tally

# The two measures a funnel or moves panel shows side by side.
PANEL_MEASURES = ("deals", "amount")
# Open stages shade from light to dark blue as deals move down the funnel.
STAGE_LIGHT, STAGE_DARK = (0.62, 0.79, 0.88), (0.03, 0.27, 0.58)
OUTCOME_COLOURS = {"won": "#2e7d32", "lost": "#c62828", "abandoned": "#9e9e9e"}
# Groups (owners, teams, ...) take qualitative colours, the same in every panel.
GROUP_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
NO_GROUP = "(none)"
MOVED_IN, MOVED_OUT = "#2e7d32", "#c62828"
MEDIAN_COLOUR = "#4a90c2"
INK = "#333333"
LIMIT_COLOUR = "#c62828"


class DurationRow(Protocol):
    """A cycle-time row (reports/cycle_time.py): days in one stage, or opening to won."""

    @property
    def policy(self) -> str: ...
    @property
    def stage(self) -> str: ...
    @property
    def count(self) -> int: ...
    @property
    def mean_days(self) -> SupportsFloat | None: ...
    @property
    def median_days(self) -> SupportsFloat | None: ...
    @property
    def p90_days(self) -> SupportsFloat | None: ...


@dataclass(frozen=True, slots=True)
class Segment:
    """One group's share of a bar (the whole bar when the rows are not grouped)."""

    group: str | None
    deals: int
    amount: Decimal
    weighted: Decimal


@dataclass(frozen=True, slots=True)
class FunnelBar:
    stage: str
    label: str  # key or English name: safe for any font
    hover: str  # with the Chinese name when the policy is known
    segments: tuple[Segment, ...]

    @property
    def outcome(self) -> bool:
        return self.stage in OUTCOMES

    def total(self, measure: str) -> float:
        return float(sum(float(getattr(s, measure)) for s in self.segments))


class _Staged(Protocol):
    @property
    def stage(self) -> str: ...


class StagePanel:
    """A panel of one bar per stage, top to bottom: the open funnel, then the outcomes
    apart from it after a gap."""

    __slots__ = ()
    bars: Sequence[_Staged]

    def positions(self) -> list[float]:
        """Bar positions from the top."""
        stages = [b.stage for b in self.bars]
        positions: list[float] = []
        gap = 0.0
        for i, stage in enumerate(stages):
            if stage in OUTCOMES and (i == 0 or stages[i - 1] not in OUTCOMES):
                gap = 0.7
            positions.append(i + gap)
        return positions

    def separator(self) -> float | None:
        """Where the line between the open funnel and the outcomes goes."""
        stages = [b.stage for b in self.bars]
        for i, stage in enumerate(stages):
            if stage in OUTCOMES and i > 0 and stages[i - 1] not in OUTCOMES:
                positions = self.positions()
                return (positions[i - 1] + positions[i]) / 2
        return None


@dataclass(frozen=True, slots=True)
class FunnelPanel(StagePanel):
    policy: str
    currency: str
    bars: tuple[FunnelBar, ...]

    def groups(self) -> Iterator[str | None]:
        return (s.group for b in self.bars for s in b.segments)


@dataclass(frozen=True, slots=True)
class MoveBar:
    """One stage's moves in the period: into it (right of the axis), out of it (left),
    one segment per group."""

    stage: str
    label: str
    hover: str
    rows: tuple[MoveRow, ...]  # one per group (one row when not grouped)

    def total(self, column: str, measure: str) -> float:
        """The sum over the groups of a column (start, in, out, end) in deals or amount."""
        return sum(float(_measure(r[column], measure)) for r in self.rows)


def _measure(tally: Tally, measure: str) -> int | Decimal:
    return tally.deals if measure == "deals" else tally.amount


@dataclass(frozen=True, slots=True)
class MovePanel(StagePanel):
    policy: str
    currency: str
    bars: tuple[MoveBar, ...]

    def groups(self) -> Iterator[str | None]:
        return (r.group for b in self.bars for r in b.rows)


@dataclass(frozen=True, slots=True)
class DurationBar:
    stage: str
    label: str
    group: str | None
    count: int
    mean: float | None
    median: float | None
    p90: float | None
    limit: int | None  # the stage's max_days, if the policy sets one

    def caption(self) -> str:
        if not self.count or self.median is None:
            return "no exits in the window"
        mean = "" if self.mean is None else f", mean {self.mean:.1f}"
        p90 = "" if self.p90 is None else f", p90 {self.p90:.1f}"
        return f"median {self.median:.1f} d{mean}{p90} (n={self.count})"

    def end(self) -> float:
        """Where the bar's marks end: its caption is written after it."""
        return max(self.p90 or 0.0, self.median or 0.0, self.mean or 0.0, self.limit or 0.0)

    def colour(self, groups: Sequence[str | None]) -> str:
        """The group's colour; else the median's, and won's own for opening to won."""
        if grouped(groups):
            return group_colour(groups, self.group)
        return OUTCOME_COLOURS["won"] if self.stage == "won" else MEDIAN_COLOUR


@dataclass(frozen=True, slots=True)
class DurationPanel:
    """One policy's stages, top to bottom; grouped bars share a stage's row in lanes."""

    policy: str
    bars: tuple[DurationBar, ...]

    def groups(self) -> Iterator[str | None]:
        return (b.group for b in self.bars)

    def stages(self) -> list[str]:
        return list(dict.fromkeys(b.stage for b in self.bars))

    def labels(self) -> dict[str, str]:
        return {b.stage: b.label for b in self.bars}

    def lane_height(self, groups: Sequence[str | None]) -> float:
        return 0.8 / (len(groups) if grouped(groups) else 1)

    def y(self, bar: DurationBar, groups: Sequence[str | None]) -> float:
        """The middle of the bar's lane within its stage's row."""
        lane = groups.index(bar.group) if grouped(groups) else 0
        return self.stages().index(bar.stage) - 0.4 + self.lane_height(groups) * (lane + 0.5)

    def longest(self) -> float:
        """The days the axis must reach: the longest p90 (else median) or stage limit."""
        longest = max((b.p90 or b.median or 0.0 for b in self.bars), default=0.0)
        return max([longest, *(b.limit or 0 for b in self.bars)]) or 1.0


def funnel_panels(
    rows: Iterable[FunnelReportRow], policies: Mapping[str, FunnelPolicy] | None = None
) -> list[FunnelPanel]:
    """Rows gathered into panels, stages in policy order (else in the rows' order)."""
    order: dict[tuple[str, str], dict[str, list[Segment]]] = {}
    for r in rows:
        stages = order.setdefault((r.policy, r.currency), {})
        stages.setdefault(r.stage, []).append(Segment(r.group, r.deals, r.amount, r.weighted))
    panels = []
    for (name, currency), stages in order.items():
        spec = (policies or {}).get(name)
        bars = tuple(
            FunnelBar(k, _label(spec, k), _hover(spec, k), tuple(stages[k]))
            for k in _policy_order(spec, stages)
        )
        panels.append(FunnelPanel(name, currency, bars))
    return panels


def move_panels(
    rows: Iterable[MoveRow], policies: Mapping[str, FunnelPolicy] | None = None
) -> list[MovePanel]:
    """Rows gathered into panels per policy and currency, stages in policy order."""
    order: dict[tuple[str, str], dict[str, list[MoveRow]]] = {}
    for r in rows:
        order.setdefault((r.policy, r.currency), {}).setdefault(r.stage, []).append(r)
    panels = []
    for (name, currency), stages in order.items():
        spec = (policies or {}).get(name)
        bars = tuple(
            MoveBar(k, _label(spec, k), _hover(spec, k), tuple(stages[k]))
            for k in _policy_order(spec, stages)
        )
        panels.append(MovePanel(name, currency, bars))
    return panels


def _policy_order(spec: FunnelPolicy | None, stages: Iterable[str]) -> list[str]:
    """The stages in the policy's order, then the outcomes; as given without a policy."""
    keys = list(stages)
    if spec is not None:
        rank = {k: i for i, k in enumerate((*spec.stage_keys, *OUTCOMES))}
        keys.sort(key=lambda k: rank.get(k, len(rank)))
    return keys


def duration_panels(
    rows: Iterable[DurationRow], policies: Mapping[str, FunnelPolicy] | None = None
) -> list[DurationPanel]:
    by_policy: dict[str, list[DurationBar]] = {}
    for r in rows:
        spec = (policies or {}).get(r.policy)
        limit = None
        if spec is not None and spec.has_stage(r.stage):
            limit = spec.stage(r.stage).time_rules.max_days
        label = "opened to won" if r.stage == "won" else _label(spec, r.stage)
        group = getattr(r, "group", None)
        by_policy.setdefault(r.policy, []).append(
            DurationBar(
                r.stage,
                label,
                None if group is None else str(group),
                r.count,
                _days(r.mean_days),
                _days(r.median_days),
                _days(r.p90_days),
                limit,
            )
        )
    return [DurationPanel(name, tuple(bars)) for name, bars in by_policy.items()]


def _days(value: SupportsFloat | None) -> float | None:
    return None if value is None else float(value)


def _label(spec: FunnelPolicy | None, stage: str) -> str:
    if spec is None or not spec.has_stage(stage):
        return stage
    return spec.stage(stage).name


def _hover(spec: FunnelPolicy | None, stage: str) -> str:
    if spec is None or not spec.has_stage(stage):
        return stage
    s = spec.stage(stage)
    return s.name if s.name_zh == s.name else f"{s.name} {s.name_zh}"


def panel_groups(
    panels: Iterable[FunnelPanel] | Iterable[MovePanel] | Iterable[DurationPanel],
) -> list[str | None]:
    """The panels' distinct groups in first-seen order; ``[None]`` alone means ungrouped."""
    seen: dict[str | None, None] = {}
    for panel in panels:
        for group in panel.groups():
            seen.setdefault(group, None)
    return list(seen)


def grouped(groups: Sequence[str | None]) -> bool:
    return groups != [None] and bool(groups)


def group_name(group: str | None) -> str:
    return NO_GROUP if group is None else group


def group_colour(groups: Sequence[str | None], group: str | None) -> str:
    return GROUP_COLOURS[groups.index(group) % len(GROUP_COLOURS)]


def stage_colour(bar: FunnelBar, index: int, stages: int) -> str:
    """Blue shades down the open funnel; each outcome its own colour."""
    if bar.outcome:
        return OUTCOME_COLOURS.get(bar.stage, "#9e9e9e")
    f = index / max(stages - 1, 1)
    rgb = (round(255 * (a + (b - a) * f)) for a, b in zip(STAGE_LIGHT, STAGE_DARK, strict=True))
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def compact(value: float) -> str:
    """1 250 000 -> 1.25M: short enough to sit beside a bar."""
    size = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= limit * 0.9995:  # 999 999 reads 1M, not 1e+03k
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.0f}" if value == int(value) else f"{value:.2f}"
