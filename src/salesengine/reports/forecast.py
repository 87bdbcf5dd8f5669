"""The forecast as of T, known at K (docs/metrics.md, "Forecast as of T").

The weighted pipeline is the open part of the funnel; the stage-based forecast sums the
same open deals by the ISO week of their expected close, for the 4 weeks from T's week,
and counts every other open deal in an ``outside`` bucket so totals reconcile. Both are
summed from one read of the open deals, kept to an owner or team and grouped by ``--by``
when asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Unpack

from sqlalchemy import Connection, func, null, select

from salesengine.access.principal import Scope
from salesengine.domain.policy import FunnelPolicy
from salesengine.projections.base import from_units
from salesengine.reports.common import group_sql
from salesengine.reports.funnel import ATTRIBUTES, INTERVALS
from salesengine.reports.open_deals import Only, open_deals, utc_day, week_label, week_start
from salesengine.reports.slicing import Sliced, Slicing, check_policy
from salesengine.reports.weights import weights

WEEKS = 4
OUTSIDE = ("overdue", "later", "no date")


@dataclass(frozen=True, slots=True)
class PipelineRow:
    policy: str
    currency: str
    deals: int
    amount: Decimal
    weighted: Decimal
    group: str | None = None  # the value of the --by grouping, if any


@dataclass(frozen=True, slots=True)
class WeekRow:
    week: str
    starts: date
    currency: str
    deals: int
    amount: Decimal
    weighted: Decimal
    group: str | None = None


@dataclass(frozen=True, slots=True)
class OutsideRow:
    bucket: str  # one of OUTSIDE
    currency: str
    deals: int
    amount: Decimal
    weighted: Decimal
    group: str | None = None


@dataclass(frozen=True, slots=True)
class Forecast:
    as_of: datetime
    known_at: datetime | None
    policy: str | None
    weighted_pipeline: list[PipelineRow] = field(default_factory=list)
    weeks: list[WeekRow] = field(default_factory=list)
    outside: list[OutsideRow] = field(default_factory=list)
    by: str | None = None
    only: Only = field(default_factory=Only)


@dataclass(slots=True)
class Sums:
    deals: int = 0
    amount: Decimal = Decimal(0)
    weighted: Decimal = Decimal(0)

    def add(self, deals: int, amount: Decimal, weighted: Decimal) -> None:
        self.deals += deals
        self.amount += amount
        self.weighted += weighted

    @property
    def values(self) -> tuple[int, Decimal, Decimal]:
        return (self.deals, self.amount, self.weighted)


def forecast(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    *,
    as_of: datetime,
    only: Only | None = None,
    scope: Scope | None = None,
    **slicing: Unpack[Slicing],
) -> Forecast:
    """The forecast of the open deals of ``policy`` and ``only`` (owner, team), per
    ``by`` group. ``scope``: only the deals a principal reaches (docs/access.md), by
    their current attributes, whatever ``only`` keeps at T; None: every deal."""
    check_policy(policies, slicing.get("policy"))
    only = only or Only()
    first = week_start(utc_day(as_of))
    weeks = [first + timedelta(weeks=n) for n in range(WEEKS)]
    end = first + timedelta(weeks=WEEKS)
    sliced = Sliced.of(policies, slicing)
    pipeline: dict[tuple[str, str, Any], Sums] = {}
    buckets: dict[tuple[date | str, str, Any], Sums] = {}
    weigh = weights(conn, policies).weight
    for name, stage, version, currency, close, grp, deals, units in _open_sums(
        conn, as_of, sliced, only, scope
    ):
        spec = policies[name]
        amount = from_units(int(units or 0))
        weighted = amount * weigh(name, version, stage)  # as the funnel does
        cur = currency or spec.currency
        pipeline.setdefault((name, cur, grp), Sums()).add(int(deals), amount, weighted)
        bucket = _bucket(close, first, end)
        buckets.setdefault((bucket, cur, grp), Sums()).add(int(deals), amount, weighted)

    slices = sliced.in_order((c, g) for _, c, g in buckets)
    zero = Sums()
    return Forecast(
        as_of=as_of,
        known_at=sliced.known_at,
        policy=sliced.policy,
        weighted_pipeline=[
            PipelineRow(p, c, *pipeline[p, c, g].values, g) for p, c, g in sliced.in_order(pipeline)
        ],
        weeks=[
            WeekRow(week_label(monday), monday, c, *buckets.get((monday, c, g), zero).values, g)
            for monday in weeks
            for c, g in slices
        ],
        outside=[
            OutsideRow(bucket, c, *buckets[bucket, c, g].values, g)
            for bucket in OUTSIDE
            for c, g in slices
            if (bucket, c, g) in buckets
        ],
        by=sliced.by,
        only=only,
    )


def _open_sums(
    conn: Connection, as_of: datetime, sliced: Sliced, only: Only, scope: Scope | None
) -> list[tuple[Any, ...]]:
    """(policy, stage, policy version, currency, expected close, group, deals, amount
    units) of the open deals. The group is computed in a subquery: PostgreSQL would not
    see a parameterised CASE (the size bands) in GROUP BY as the same expression as in
    the select list."""
    i, a = INTERVALS.c, ATTRIBUTES.c
    group = group_sql(ATTRIBUTES, sliced.by, sliced.banding)
    columns = [i.policy, i.stage, i.policy_version, a.currency, a.expected_close]
    inner = open_deals(
        *columns,
        (group if group is not None else null()).label("grp"),
        a.amount,
        at=as_of,
        known_at=sliced.known_at,
        policy=sliced.policy,
        only=only,
        scope=scope,
    ).subquery("open")
    c = inner.c
    keys = [c.policy, c.stage, c.policy_version, c.currency, c.expected_close, c.grp]
    query = select(*keys, func.count(), func.sum(inner.c.amount)).group_by(*keys)
    return [tuple(r) for r in conn.execute(query)]


def _bucket(close: str | None, first: date, end: date) -> date | str:
    """The Monday of the close date's week within the 4 weeks, or the outside bucket."""
    if close is None:
        return "no date"
    day = date.fromisoformat(close)
    if day < first:
        return "overdue"
    if day >= end:
        return "later"
    return week_start(day)
