"""Funnel shape per rep and team as of T, known at K, against the pyramid the policy
expects, and the new deals entering per period (docs/metrics.md, "Funnel shape").

The pyramid is the plan's ideal funnel: each stage holds 1 / conversion deals for each
deal of the next stage. The conversions are the plan's own (reports/plan.py), so the
shape and the plan never disagree on what the ideal is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from typing import Any, Literal

from sqlalchemy import Connection, select

from salesengine.access.principal import Scope
from salesengine.access.scope_sql import scoped
from salesengine.domain.policy import FunnelPolicy
from salesengine.projections.base import from_units, from_us, to_us
from salesengine.reports.common import known
from salesengine.reports.funnel import ATTRIBUTES, INTERVALS
from salesengine.reports.periods import Period, parse_period
from salesengine.reports.plan import plan
from salesengine.reports.portfolio_deals import (
    ALL,
    GroupKey,
    Selection,
    group_keys,
    in_order,
    open_at,
)
from salesengine.reports.window import attributes_at

Unit = Literal["week", "month", "quarter"]
UNITS: tuple[Unit, ...] = ("week", "month", "quarter")


@dataclass(frozen=True, slots=True)
class ShapeStage:
    stage: str
    deals: int
    amount: Decimal
    least: int | None  # the fewest deals the pyramid asks of it; None for the last stage
    basis: str | None  # "conversion", or "plain" where the conversion is unknown or 0

    @property
    def pyramid(self) -> bool:
        return self.least is None or self.deals >= self.least

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "deals": self.deals,
            "amount": self.amount,
            "least": self.least,
            "basis": self.basis,
            "pyramid": self.pyramid,
        }


@dataclass(frozen=True, slots=True)
class NewDeals:
    period: str
    deals: int
    amount: Decimal

    def as_dict(self) -> dict[str, Any]:
        return {"period": self.period, "deals": self.deals, "amount": self.amount}


@dataclass(frozen=True, slots=True)
class ShapeGroup:
    group: GroupKey
    stages: tuple[ShapeStage, ...]
    new: tuple[NewDeals, ...]

    @property
    def not_pyramid(self) -> list[str]:
        return [s.stage for s in self.stages if not s.pyramid]

    @property
    def open(self) -> int:
        return sum(s.deals for s in self.stages)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.group.as_dict(),
            "open": self.open,
            "pyramid": not self.not_pyramid,
            "not_pyramid": self.not_pyramid,
            "stages": [s.as_dict() for s in self.stages],
            "new": [n.as_dict() for n in self.new],
        }


@dataclass(frozen=True, slots=True)
class Shape:
    policy: str
    currency: str
    as_of: datetime
    known_at: datetime | None
    period: Period  # whose plan gives the conversions (its previous period's)
    conversions: Mapping[str, Fraction | None]
    periods: tuple[Period, ...]  # of the new deals, oldest first; the last holds T
    groups: tuple[ShapeGroup, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "currency": self.currency,
            "as_of": self.as_of,
            "known_at": self.known_at,
            "period": self.period.as_dict(),
            "conversion_from": self.period.previous().as_dict(),
            "conversions": {
                s: None if c is None else float(c) for s, c in self.conversions.items()
            },
            "periods": [p.as_dict() | {"partial": p.end > self.as_of} for p in self.periods],
            "groups": [g.as_dict() for g in self.groups],
        }


def period_of(at: datetime, unit: str) -> Period:
    """The calendar period (UTC) of the unit holding the instant."""
    day = at.astimezone(UTC)
    if unit == "week":
        iso = day.isocalendar()
        return parse_period(f"{iso.year:04d}-W{iso.week:02d}")
    if unit == "month":
        return parse_period(f"{day.year:04d}-{day.month:02d}")
    if unit == "quarter":
        return parse_period(f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}")
    raise ValueError(f"{unit!r} is not one of {', '.join(UNITS)}")


def periods_to(at: datetime, unit: str, count: int) -> tuple[Period, ...]:
    """The ``count`` periods ending with the one holding T, oldest first."""
    if count < 1:
        raise ValueError("at least one period")
    found = [period_of(at, unit)]
    while len(found) < count:
        found.append(found[-1].previous())
    return tuple(reversed(found))


def plan_conversions(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    chosen: Selection,
    period: Period,
    *,
    as_of: datetime,
    known_at: datetime | None,
    scope: Scope | None,
) -> dict[str, Fraction | None]:
    """Each stage's conversion as the plan for ``period`` has it (its previous period's).
    The conversions do not depend on the target, so any positive one will do."""
    planned = plan(
        conn,
        policies,
        policy=chosen.policy,
        target=Decimal(1),
        period=period,
        as_of=as_of,
        known_at=known_at,
        currency=chosen.currency_of(policies),
        scope=scope,
    )
    return {r.stage: r.conversion for r in planned.rows[:-1]}


def least_counts(
    stages: tuple[str, ...], deals: Mapping[str, int], conversions: Mapping[str, Fraction | None]
) -> list[tuple[int | None, str | None]]:
    """(least, basis) per stage: what the pyramid asks of it given the next stage."""
    found: list[tuple[int | None, str | None]] = []
    for stage, after in pairwise(stages):
        rate = conversions.get(stage)
        following = deals.get(after, 0)
        if not rate:  # unknown (no cohort) or 0: the plain pyramid stands in
            found.append((following, "plain"))
        else:
            found.append((math.ceil(Fraction(following) / rate), "conversion"))
    found.append((None, None))
    return found


def shape(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    chosen: Selection,
    *,
    as_of: datetime,
    known_at: datetime | None = None,
    period: Period | None = None,
    every: str = "month",
    periods: int = 3,
    scope: Scope | None = None,
) -> Shape:
    """The shape per rep, team and all, with new deals per period. ``scope``: only the
    deals a principal reaches (docs/access.md); None: every deal."""
    if chosen.policy not in policies:
        raise ValueError(f"no policy '{chosen.policy}'")
    spec = policies[chosen.policy]
    planned_period = period or period_of(as_of, "quarter")
    windows = periods_to(as_of, every, periods)
    conversions = plan_conversions(
        conn, policies, chosen, planned_period, as_of=as_of, known_at=known_at, scope=scope
    )
    stages: dict[GroupKey, dict[str, tuple[int, Decimal]]] = {ALL: {}}
    for d in open_at(conn, policies, chosen, at=as_of, known_at=known_at, scope=scope):
        for g in group_keys(d.owner, d.team):
            cell = stages.setdefault(g, {})
            n, amount = cell.get(d.stage, (0, Decimal(0)))
            cell[d.stage] = (n + 1, amount + d.amount)
    new: dict[GroupKey, dict[str, tuple[int, Decimal]]] = {ALL: {}}
    for opened, owner, team, amount in openings(
        conn, policies, chosen, windows[0].start, as_of, known_at, scope
    ):
        name = next(p.name for p in windows if p.start <= opened < p.end)
        for g in group_keys(owner, team):
            cell = new.setdefault(g, {})
            n, total = cell.get(name, (0, Decimal(0)))
            cell[name] = (n + 1, total + amount)
    groups = []
    for g in in_order([*stages, *new]):
        held = stages.get(g, {})
        counts = {s: n for s, (n, _) in held.items()}
        rows = tuple(
            ShapeStage(s, *held.get(s, (0, Decimal(0))), *least)
            for s, least in zip(
                spec.stage_keys, least_counts(spec.stage_keys, counts, conversions), strict=True
            )
        )
        entered = new.get(g, {})
        groups.append(
            ShapeGroup(
                g,
                rows,
                tuple(NewDeals(p.name, *entered.get(p.name, (0, Decimal(0)))) for p in windows),
            )
        )
    return Shape(
        policy=chosen.policy,
        currency=chosen.currency_of(policies),
        as_of=as_of,
        known_at=known_at,
        period=planned_period,
        conversions=conversions,
        periods=windows,
        groups=tuple(groups),
    )


def openings(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    chosen: Selection,
    start: datetime,
    as_of: datetime,
    known_at: datetime | None,
    scope: Scope | None,
) -> list[tuple[datetime, str | None, str | None, Decimal]]:
    """(opened at, owner, team, amount) at the opening, of the selection's deals opened in
    [start, T] (known at K), by their attributes at the opening."""
    i, a = INTERVALS.c, ATTRIBUTES.c
    query = (
        select(i.entered_at, a.owner, a.team, a.amount)
        .select_from(INTERVALS.join(ATTRIBUTES, attributes_at(i.deal_id, i.entered_at, known_at)))
        .where(
            known(INTERVALS, known_at),
            i.policy == chosen.policy,
            i.via == "opened",
            i.entered_at >= to_us(start),
            i.entered_at <= to_us(as_of),
            chosen.in_currency(policies),
        )
    )
    query = chosen.only.where(scoped(query, scope, i.deal_id))
    return [
        (from_us(int(r[0])), r[1], r[2], from_units(int(r[3] or 0))) for r in conn.execute(query)
    ]
