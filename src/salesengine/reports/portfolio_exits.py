"""Stage exits as of T over a trailing window [F, T), known at K (docs/metrics.md, "Stage
exits as of T"): what the portfolio projection draws from.

Each stage interval entered in the window is an observation: an exit (its days in the
stage and where the deal went next) when it ended at or before T, else a deal still in
the stage at T. Nothing effective after T is read, so a projection as of a past T can be
held against what followed. The survival is the product-limit (Kaplan-Meier) estimate,
kept per exit: each exit is a step of its own (equal days included, which gives the
same survival after them as one step of several), so that drawing a step draws that
exit's days and destination together.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, or_, select

from salesengine.access.principal import Scope
from salesengine.access.scope_sql import scoped
from salesengine.domain.policy import FunnelPolicy
from salesengine.projections.base import to_us
from salesengine.reports.common import known
from salesengine.reports.cycle_time import cycle_time, days
from salesengine.reports.funnel import INTERVALS

WON = "won"
DROPPED = ("lost", "abandoned")
DEFAULT_WINDOW_DAYS = 91


@dataclass(frozen=True, slots=True)
class StageExits:
    """One stage's observations in the window, as its survival's steps."""

    stage: str
    observed: int  # intervals entered in the window
    days: tuple[float, ...]  # each exit's days in the stage, ascending
    survival: tuple[float, ...]  # the survival after each exit
    destinations: tuple[str, ...]  # each exit's next stage or outcome
    kinds: tuple[str, ...]  # each exit's kind: advanced, dropped or regressed

    @property
    def exits(self) -> int:
        return len(self.days)

    def survival_at(self, age: float) -> float:
        """The share still in the stage after ``age`` days (every exit of at most that)."""
        n = bisect.bisect_right(self.days, age)
        return 1.0 if n == 0 else self.survival[n - 1]

    def share(self, kind: str) -> float:
        """The estimated share of entrants that leave by exits of this kind."""
        before, total = 1.0, 0.0
        for s, k in zip(self.survival, self.kinds, strict=True):
            if k == kind:
                total += before - s
            before = s
        return total

    @property
    def stays(self) -> float:
        return self.survival[-1] if self.survival else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "observed": self.observed,
            "exits": self.exits,
            "advanced": self.share("advanced"),
            "dropped": self.share("dropped"),
            "regressed": self.share("regressed"),
            "stays": self.stays,
        }


@dataclass(frozen=True, slots=True)
class Model:
    """Every stage's exits, and the sales cycle (the horizon) in days."""

    policy: str
    start: datetime  # F
    end: datetime  # T
    stages: tuple[StageExits, ...]
    sales_cycle: float | None  # the won row's median days in the window
    won_in_window: int

    def stage(self, key: str) -> StageExits:
        return next(s for s in self.stages if s.stage == key)

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.start,
            "to": self.end,
            "sales_cycle_days": self.sales_cycle,
            "won_in_window": self.won_in_window,
            "stages": [s.as_dict() for s in self.stages],
        }


def exit_kind(spec: FunnelPolicy, stage: str, destination: str) -> str:
    if destination == WON or (
        spec.has_stage(destination) and spec.index(destination) > spec.index(stage)
    ):
        return "advanced"
    if destination in DROPPED:
        return "dropped"
    return "regressed"


def stage_exits(
    spec: FunnelPolicy, stage: str, observations: list[tuple[int, str | None, str]]
) -> StageExits:
    """The survival's steps from (microseconds in the stage, destination or None while
    still in it, a tie-breaker) per observation."""
    # Ascending days; at equal days exits before those still in the stage; then by the
    # tie-breaker, so that every database gives the same order.
    ordered = sorted(observations, key=lambda o: (o[0], o[1] is None, o[2]))
    at_risk = len(ordered)
    current = 1.0
    steps: list[tuple[float, float, str]] = []
    for us, destination, _ in ordered:
        if destination is not None:
            current *= 1 - 1 / at_risk
            steps.append((days(us), current, destination))
        at_risk -= 1
    return StageExits(
        stage=stage,
        observed=len(ordered),
        days=tuple(d for d, _, _ in steps),
        survival=tuple(s for _, s, _ in steps),
        destinations=tuple(dest for _, _, dest in steps),
        kinds=tuple(exit_kind(spec, stage, dest) for _, _, dest in steps),
    )


def model(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    *,
    policy: str,
    as_of: datetime,
    window_days: float = DEFAULT_WINDOW_DAYS,
    known_at: datetime | None = None,
    scope: Scope | None = None,
) -> Model:
    """The stage exits of ``policy``'s deals (in ``scope``; None: every deal) over
    [T - window, T), known at K, and the sales cycle of that window."""
    if not window_days > 0:
        raise ValueError("the window must be a positive number of days")
    spec = policies[policy]
    start = as_of - timedelta(days=window_days)
    f, t = to_us(start), to_us(as_of)
    i = INTERVALS.c
    query = select(i.deal_id, i.stage, i.entered_at, i.entered_version, i.exited_at).where(
        known(INTERVALS, known_at),
        i.policy == policy,
        i.entered_at <= t,
        or_(i.exited_at.is_(None), i.exited_at >= f),
    )
    rows = sorted(
        (str(r[0]), int(r[2]), int(r[3]), str(r[1]), None if r[4] is None else int(r[4]))
        for r in conn.execute(scoped(query, scope, i.deal_id))
    )
    observed: dict[str, list[tuple[int, str | None, str]]] = {s: [] for s in spec.stage_keys}
    for n, (deal, entered, _, stage, exited) in enumerate(rows):
        if stage not in observed or not f <= entered < t:
            continue
        tie = f"{deal}:{entered}"
        # The deal's next interval was entered when this one ended (at or before T), so
        # the query holds it too, right after this one.
        following = rows[n + 1] if n + 1 < len(rows) else None
        if exited is not None and exited <= t and following is not None and following[0] == deal:
            observed[stage].append((exited - entered, following[3], tie))
        else:
            observed[stage].append((t - entered, None, tie))
    won = next(
        r
        for r in cycle_time(
            conn,
            policies,
            start=start,
            end=as_of,
            scope=scope,
            known_at=known_at,
            policy=policy,
        )
        if r.stage == WON
    )
    return Model(
        policy=policy,
        start=start,
        end=as_of,
        stages=tuple(stage_exits(spec, s, observed[s]) for s in spec.stage_keys),
        sales_cycle=won.median_days,
        won_in_window=won.count,
    )
