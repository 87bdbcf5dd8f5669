"""The projection held against what followed (docs/metrics.md, "Backtest"): as of each
past T, project, then read each projected deal's position at T + horizon from the same
store, and count how often a rep's actual figure fell inside its 80% band.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from salesengine.access.principal import Scope
from salesengine.domain.policy import FunnelPolicy
from salesengine.projections.base import AMOUNT_SCALE, from_us
from salesengine.reports.common import known
from salesengine.reports.funnel import ATTRIBUTES, INTERVALS, deals_at
from salesengine.reports.portfolio_deals import GroupKey, Selection, group_keys
from salesengine.reports.portfolio_exits import DEFAULT_WINDOW_DAYS, DROPPED, WON
from salesengine.reports.portfolio_projection import (
    DEFAULT_RUNS,
    DEFAULT_SEED,
    FIGURES,
    Band,
    Projection,
    project,
)


@dataclass(frozen=True, slots=True)
class Pair:
    """One (T, rep, figure): its band and what actually happened."""

    as_of: datetime
    group: GroupKey
    figure: str
    band: Band
    actual: float

    @property
    def inside(self) -> bool:
        return self.band.holds(self.actual)

    @property
    def strictly_inside(self) -> bool:
        """Inside without touching the band's ends: a count on an end may be on either
        side of the true 10th or 90th percentile."""
        return self.band.p10 < self.actual < self.band.p90

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "rep": self.group.name,
            "figure": self.figure,
            **self.band.as_dict(),
            "actual": self.actual,
            "inside": self.inside,
            "strictly_inside": self.strictly_inside,
        }


@dataclass(frozen=True, slots=True)
class Point:
    """One T: its projection, and each group's actual figures at T + horizon."""

    projection: Projection
    actual: Mapping[GroupKey, Mapping[str, float]]
    incomplete: bool

    @property
    def end(self) -> datetime:
        return self.projection.as_of + timedelta(days=self.projection.horizon_days)

    def pairs(self) -> list[Pair]:
        """The pairs of the reps with an open deal at T."""
        return [
            Pair(self.projection.as_of, g.group, f, g.bands[f], self.actual[g.group][f])
            for g in self.projection.groups
            if g.group.level == "rep" and g.open_now > 0
            for f in FIGURES
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.projection.as_of,
            "horizon_days": self.projection.horizon_days,
            "horizon": "given" if self.projection.horizon_given else "sales cycle",
            "to": self.end,
            "incomplete": self.incomplete,
            "groups": [
                g.as_dict() | {"actual": dict(self.actual[g.group])} for g in self.projection.groups
            ],
        }


def coverage(pairs: Sequence[Pair], *, strict: bool = False) -> float | None:
    if not pairs:
        return None
    inside = sum(p.strictly_inside if strict else p.inside for p in pairs)
    return inside / len(pairs)


@dataclass(frozen=True, slots=True)
class Backtest:
    policy: str
    currency: str
    known_at: datetime | None
    runs: int
    seed: int
    latest_effective: datetime | None  # the latest effective instant the store holds
    points: tuple[Point, ...]

    @property
    def pairs(self) -> list[Pair]:
        return [p for point in self.points for p in point.pairs()]

    @property
    def coverage(self) -> float | None:
        return coverage(self.pairs)

    @property
    def strict_coverage(self) -> float | None:
        return coverage(self.pairs, strict=True)

    def coverage_of(self, figure: str, *, strict: bool = False) -> float | None:
        return coverage([p for p in self.pairs if p.figure == figure], strict=strict)

    def as_dict(self) -> dict[str, Any]:
        pairs = self.pairs
        return {
            "policy": self.policy,
            "currency": self.currency,
            "known_at": self.known_at,
            "runs": self.runs,
            "seed": self.seed,
            "latest_effective": self.latest_effective,
            "pairs": len(pairs),
            "inside": sum(p.inside for p in pairs),
            "coverage": self.coverage,
            "coverage_per_figure": {f: self.coverage_of(f) for f in FIGURES},
            "strict_coverage": self.strict_coverage,
            "strict_coverage_per_figure": {f: self.coverage_of(f, strict=True) for f in FIGURES},
            "points": [p.as_dict() for p in self.points],
            "checked": [p.as_dict() for p in pairs],
        }


def latest_effective(conn: Connection, known_at: datetime | None) -> datetime | None:
    """The latest effective instant of any stage change or attribute change known at K."""
    i, a = INTERVALS.c, ATTRIBUTES.c
    stages = conn.execute(select(func.max(i.entered_at)).where(known(INTERVALS, known_at)))
    changes = conn.execute(select(func.max(a.valid_from)).where(known(ATTRIBUTES, known_at)))
    found = [int(v) for v in (stages.scalar(), changes.scalar()) if v is not None]
    return from_us(max(found)) if found else None


def actual_figures(
    conn: Connection, projection: Projection, known_at: datetime | None, end: datetime
) -> dict[GroupKey, dict[str, float]]:
    """Each group's figures at ``end`` over the deals the projection moved."""
    i, a = INTERVALS.c, ATTRIBUTES.c
    query = deals_at(i.deal_id, i.stage, a.amount, at=end, known_at=known_at).where(
        i.policy == projection.policy
    )
    position = {str(r[0]): (str(r[1]), int(r[2] or 0)) for r in conn.execute(query)}
    found: dict[GroupKey, dict[str, float]] = {
        g.group: dict.fromkeys(FIGURES, 0.0) for g in projection.groups
    }
    for deal in projection.deals:
        stage, units = position[deal.deal_id]
        figure = "won" if stage == WON else "lost" if stage in DROPPED else "open"
        for g in group_keys(deal.owner, deal.team):
            found[g][figure] += 1
            if figure == "won":
                found[g]["won_amount"] += units
    for figures in found.values():
        figures["won_amount"] /= AMOUNT_SCALE  # as the band's: the same division
    return found


def backtest(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    chosen: Selection,
    *,
    as_ofs: Sequence[datetime],
    known_at: datetime | None = None,
    window_days: float = DEFAULT_WINDOW_DAYS,
    horizon_days: float | None = None,
    runs: int = DEFAULT_RUNS,
    seed: int = DEFAULT_SEED,
    scope: Scope | None = None,
) -> Backtest:
    """The projection as of each T (each with the same seed), held against the store."""
    if not as_ofs:
        raise ValueError("at least one instant to project from")
    latest = latest_effective(conn, known_at)
    points = []
    for t in sorted(as_ofs):
        projection = project(
            conn,
            policies,
            chosen,
            as_of=t,
            known_at=known_at,
            window_days=window_days,
            horizon_days=horizon_days,
            runs=runs,
            seed=seed,
            scope=scope,
        )
        end = t + timedelta(days=projection.horizon_days)
        points.append(
            Point(
                projection,
                actual_figures(conn, projection, known_at, end),
                incomplete=latest is None or end > latest,
            )
        )
    return Backtest(
        policy=chosen.policy,
        currency=chosen.currency_of(policies),
        known_at=known_at,
        runs=runs,
        seed=seed,
        latest_effective=latest,
        points=tuple(points),
    )
