"""The forecast as of T, known at K (docs/metrics.md, "Forecast as of T").

The weighted pipeline is the open part of the funnel itself; the stage-based forecast
sums the open deals by the ISO week of their expected close, for the 4 weeks from T's
week, and counts every other open deal in an ``outside`` bucket so totals reconcile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func

from salesengine.domain.policy import FunnelPolicy
from salesengine.domain.values import OUTCOMES
from salesengine.projections.base import from_units
from salesengine.reports.funnel import funnel
from salesengine.reports.open_deals import (
    ATTRIBUTES,
    INTERVALS,
    open_deals,
    utc_day,
    week_label,
    week_start,
)
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


@dataclass(frozen=True, slots=True)
class WeekRow:
    week: str
    starts: date
    currency: str
    deals: int
    amount: Decimal
    weighted: Decimal


@dataclass(frozen=True, slots=True)
class OutsideRow:
    bucket: str  # one of OUTSIDE
    currency: str
    deals: int
    amount: Decimal
    weighted: Decimal


@dataclass(frozen=True, slots=True)
class Forecast:
    as_of: datetime
    known_at: datetime | None
    policy: str | None
    weighted_pipeline: list[PipelineRow] = field(default_factory=list)
    weeks: list[WeekRow] = field(default_factory=list)
    outside: list[OutsideRow] = field(default_factory=list)


def forecast(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    *,
    as_of: datetime,
    known_at: datetime | None = None,
    policy: str | None = None,
) -> Forecast:
    if policy is not None and policy not in policies:
        raise ValueError(f"no policy '{policy}'")
    pipeline: dict[tuple[str, str], list[Any]] = {}
    for r in funnel(conn, policies, as_of=as_of, known_at=known_at, policy=policy):
        if r.stage not in OUTCOMES and r.deals:
            sums = pipeline.setdefault((r.policy, r.currency), [0, Decimal(0), Decimal(0)])
            sums[0] += r.deals
            sums[1] += r.amount
            sums[2] += r.weighted

    first = week_start(utc_day(as_of))
    weeks = [first + timedelta(weeks=n) for n in range(WEEKS)]
    end = first + timedelta(weeks=WEEKS)
    buckets: dict[tuple[date | str, str], list[Any]] = {}
    i, a = INTERVALS.c, ATTRIBUTES.c
    keys = (i.policy, i.stage, i.policy_version, a.currency, a.expected_close)
    query = open_deals(
        *keys, func.count(), func.sum(a.amount), at=as_of, known_at=known_at, policy=policy
    ).group_by(*keys)
    weigh = weights(conn, policies).weight
    for name, stage, version, currency, close, deals, units in conn.execute(query):
        spec = policies[name]
        amount = from_units(int(units or 0))
        weighted = amount * weigh(name, version, stage)  # as the funnel does
        bucket = _bucket(close, first, end)
        sums = buckets.setdefault((bucket, currency or spec.currency), [0, Decimal(0), Decimal(0)])
        sums[0] += int(deals)
        sums[1] += amount
        sums[2] += weighted

    currencies = sorted({c for _, c in buckets})
    zero = [0, Decimal(0), Decimal(0)]
    return Forecast(
        as_of=as_of,
        known_at=known_at,
        policy=policy,
        weighted_pipeline=[PipelineRow(p, c, *pipeline[p, c]) for p, c in sorted(pipeline)],
        weeks=[
            WeekRow(week_label(monday), monday, c, *buckets.get((monday, c), zero))
            for monday in weeks
            for c in currencies
        ],
        outside=[
            OutsideRow(name, c, *buckets[name, c])
            for name in OUTSIDE
            for c in currencies
            if (name, c) in buckets
        ],
    )


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
