"""The plan for a period: the ideal funnel reverse-calculated from a revenue target with
the previous period's conversion, won deal size and cycle times, against the actual
funnel as of T (docs/metrics.md, "Plan").

Conversion and mean days in stage are the conversion and cycle-time reports' own
figures for the previous period, so the plan can be checked against them. The ratios
are kept as exact fractions up to the ceiling that turns them into a number of deals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Connection, func, null, select

from salesengine.access.principal import Scope
from salesengine.access.scope_sql import scoped
from salesengine.application.commands import Amount
from salesengine.domain.policy import FunnelPolicy
from salesengine.projections import deal_attributes, stage_intervals
from salesengine.projections.base import from_units, to_us
from salesengine.reports.common import known
from salesengine.reports.conversion import conversion
from salesengine.reports.cycle_time import cycle_time
from salesengine.reports.funnel import funnel
from salesengine.reports.open_deals import Only
from salesengine.reports.periods import Period
from salesengine.reports.window import attributes_at

INTERVALS = stage_intervals.table
ATTRIBUTES = deal_attributes.table
WON = "won"


def parse_target(text: str) -> Decimal:
    """A plan's revenue target as written (``1500000``, ``1,500,000``): a positive amount
    held to the digits every stored amount is; ``ValueError`` says what is wrong."""
    try:
        value = Decimal(text.replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{text!r}: must be a positive amount")
    try:
        return TypeAdapter(Amount).validate_python(value)
    except ValidationError as e:
        raise ValueError(f"{text!r}: {e.errors()[0]['msg']}") from None


@dataclass(frozen=True, slots=True)
class PlanRow:
    stage: str  # a stage key, or won
    cohort: int | None  # the previous period's cohort of the stage (none for won)
    conversion: Fraction | None
    win_rate: Fraction | None  # from this stage to won
    needed: int | None  # the ideal funnel
    deals: int  # actual, as of T (won: won so far in the period)
    amount: Decimal
    mean_days: float | None  # the previous period's mean days in the stage
    latest_entry: datetime | None  # to close by the period's end at the usual pace

    @property
    def gap(self) -> int | None:
        return None if self.needed is None else self.deals - self.needed

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "cohort": self.cohort,
            "conversion": _float(self.conversion),
            "win_rate": _float(self.win_rate),
            "needed": self.needed,
            "deals": self.deals,
            "amount": self.amount,
            "gap": self.gap,
            "mean_days": self.mean_days,
            "latest_entry": self.latest_entry,
        }


@dataclass(frozen=True, slots=True)
class Plan:
    policy: str
    currency: str
    target: Decimal | None  # None: a subject of a plan per rep or team without a target
    as_of: datetime
    known_at: datetime | None
    period: Period
    previous: Period
    won_deals: int  # in the previous period, with an amount in the currency
    won_amount: Decimal
    rows: tuple[PlanRow, ...]
    problems: tuple[str, ...]  # why some numbers could not be computed

    @property
    def previous_in_progress(self) -> bool:
        """The period planned from has not ended at T: its figures are partial, or
        include what happened after T."""
        return self.as_of < self.previous.end

    @property
    def average_won(self) -> Decimal | None:
        if not self.won_deals:
            return None
        return (self.won_amount / self.won_deals).quantize(Decimal("0.01"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "currency": self.currency,
            "target": self.target,
            "as_of": self.as_of,
            "known_at": self.known_at,
            "period": self.period.as_dict(),
            "previous": self.previous.as_dict() | {"in_progress": self.previous_in_progress},
            "won_deals": self.won_deals,
            "average_won": self.average_won,
            "rows": [r.as_dict() for r in self.rows],
            "problems": list(self.problems),
        }


def plan(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    *,
    policy: str,
    target: Decimal,
    period: Period,
    as_of: datetime,
    known_at: datetime | None = None,
    currency: str | None = None,
    scope: Scope | None = None,
) -> Plan:
    """The plan of one policy in one currency (default the policy's) for the period.
    ``scope``: planned from, and against, only the deals a principal reaches
    (docs/access.md); None: every deal."""
    if not target > 0:
        raise ValueError("the target must be a positive amount")
    if policy not in policies:
        raise ValueError(f"no policy '{policy}'")
    spec = policies[policy]
    cur = currency or spec.currency
    prev = period.previous()
    converted = {
        r.stage: r
        for r in conversion(
            conn,
            policies,
            start=prev.start,
            end=prev.end,
            scope=scope,
            known_at=known_at,
            policy=policy,
        )
    }
    stays = {
        r.stage: r.mean_days
        for r in cycle_time(
            conn,
            policies,
            start=prev.start,
            end=prev.end,
            scope=scope,
            known_at=known_at,
            policy=policy,
        )
    }
    actual = {
        r.stage: (r.deals, r.amount)
        for r in funnel(conn, policies, as_of=as_of, scope=scope, known_at=known_at, policy=policy)
        if r.currency == cur
    }
    return plan_from(
        PlanFigures(
            cohorts={stage: (r.cohort, r.advanced) for stage, r in converted.items()},
            stays=stays,
            actual=actual,
            won_before=won(conn, spec, cur, prev.start, prev.end, known_at, scope=scope),
            won_now=won(
                conn, spec, cur, period.start, period.end, known_at, upto=as_of, scope=scope
            ),
        ),
        spec,
        currency=cur,
        target=target,
        period=period,
        as_of=as_of,
        known_at=known_at,
    )


@dataclass(frozen=True, slots=True)
class PlanFigures:
    """What a plan is computed from: per stage, the previous period's cohort and how
    many of it advanced, and its mean days in the stage; the actual funnel as of T
    (deals, amount); the previous period's won deals and the period's so far."""

    cohorts: Mapping[str, tuple[int, int]]  # stage -> (cohort, advanced); absent: (0, 0)
    stays: Mapping[str, float | None]  # stage -> mean days; absent: None
    actual: Mapping[str, tuple[int, Decimal]]
    won_before: tuple[int, Decimal]
    won_now: tuple[int, Decimal]


def plan_from(
    figures: PlanFigures,
    spec: FunnelPolicy,
    *,
    currency: str,
    target: Decimal | None,
    period: Period,
    as_of: datetime,
    known_at: datetime | None,
    more_problems: tuple[str, ...] = (),
    net_of_won: bool = False,
) -> Plan:
    """The plan from its figures (``target`` None: nothing to plan for, no deals needed).
    ``net_of_won``: the target is what remains after the period's wins so far (a
    remaining quota), so those wins are not needed again: the won row needs them and the
    wins the target still asks for, and falls short by these alone."""
    won_deals, won_amount = figures.won_before
    average = None if not won_amount else Fraction(won_amount) / won_deals
    rows: list[PlanRow] = []
    win_rate: Fraction | None = Fraction(1)
    days_left: float | None = 0.0
    for stage in reversed(spec.stage_keys):  # both products run from the stage to won
        cohort, advanced = figures.cohorts.get(stage, (0, 0))
        rate = None if cohort == 0 else Fraction(advanced, cohort)
        win_rate = None if rate is None or win_rate is None else rate * win_rate
        mean = figures.stays.get(stage)
        days_left = None if mean is None or days_left is None else days_left + mean
        deals, amount = figures.actual.get(stage, (0, Decimal(0)))
        rows.append(
            PlanRow(
                stage,
                cohort,
                rate,
                win_rate,
                needed(target, average, win_rate),
                deals,
                amount,
                mean,
                None if days_left is None else period.end - timedelta(days=days_left),
            )
        )
    rows.reverse()
    won_so_far, won_so_far_amount = figures.won_now
    wins = needed(target, average, Fraction(1))
    if net_of_won and wins is not None:
        wins += won_so_far
    rows.append(
        PlanRow(
            stage=WON,
            cohort=None,
            conversion=None,
            win_rate=Fraction(1),
            needed=wins,
            deals=won_so_far,
            amount=won_so_far_amount,
            mean_days=None,
            latest_entry=period.end,
        )
    )
    return Plan(
        policy=spec.name,
        currency=currency,
        target=target,
        as_of=as_of,
        known_at=known_at,
        period=period,
        previous=period.previous(),
        won_deals=won_deals,
        won_amount=won_amount,
        rows=tuple(rows),
        problems=(
            *more_problems,
            *problems(spec.name, currency, period.previous().name, won_deals, rows, target),
        ),
    )


def problems(
    policy: str,
    currency: str,
    previous: str,
    won_deals: int,
    rows: list[PlanRow],
    target: Decimal | None = None,
) -> tuple[str, ...]:
    """Why figures are missing: the history the previous period lacks, stage by stage.
    Without a target nothing is needed, so no "needed" is missing for want of wins."""
    found = []
    if not won_deals:
        found.append(
            f"no {policy} deal with an amount in {currency} was won in {previous}: "
            "no average deal size to plan from"
        )
    elif target is not None and rows[-1].needed is None:
        found.append(
            f"the {policy} deals won in {previous} total 0 {currency}: nothing to plan from"
        )
    stages = rows[:-1]
    empty = [r.stage for r in stages if r.cohort == 0]
    if empty:
        found.append(f"no deal entered {', '.join(empty)} in {previous}: conversion unknown")
    stalled = [r.stage for r in stages if r.conversion == 0]
    if stalled:
        found.append(f"no deal that entered {', '.join(stalled)} in {previous} advanced")
    untimed = [r.stage for r in stages if r.mean_days is None]
    if untimed:
        found.append(f"no deal left {', '.join(untimed)} in {previous}: time in stage unknown")
    return tuple(found)


def needed(
    target: Decimal | None, average: Fraction | None, win_rate: Fraction | None
) -> int | None:
    """Deals a stage must hold: ceil(target / (average won size x win rate)), exactly."""
    if target is None or average is None or not win_rate:
        return None
    return math.ceil(Fraction(target) / (average * win_rate))


def won(
    conn: Connection,
    spec: FunnelPolicy,
    currency: str,
    start: datetime,
    end: datetime,
    known_at: datetime | None,
    *,
    upto: datetime | None = None,
    scope: Scope | None = None,
) -> tuple[int, Decimal]:
    """(deals, their amount) won in [start, end) (and by ``upto``), each at its last win,
    of the deals in ``scope`` (None: every deal)."""
    found = won_by(conn, spec, currency, start, end, known_at, upto=upto, scope=scope)
    return found.get(None, (0, Decimal(0)))


def won_by(
    conn: Connection,
    spec: FunnelPolicy,
    currency: str,
    start: datetime,
    end: datetime,
    known_at: datetime | None,
    *,
    upto: datetime | None = None,
    scope: Scope | None = None,
    by: str | None = None,
    only: Only | None = None,
) -> dict[str | None, tuple[int, Decimal]]:
    """``won``'s deals per ``by`` group (owner or team) at the win: {group: (deals,
    amount)}; without ``by``, one entry under None. ``only``: of that owner or team at
    the win."""
    i, a = INTERVALS.c, ATTRIBUTES.c
    last = min(to_us(end) - 1, to_us(upto)) if upto is not None else to_us(end) - 1
    winning = select(i.deal_id, func.max(i.entered_at).label("won_at")).where(
        known(INTERVALS, known_at),
        i.policy == spec.name,
        i.stage == WON,
        i.entered_at >= to_us(start),
        i.entered_at <= last,
    )
    wins = scoped(winning, scope, i.deal_id).group_by(i.deal_id).subquery("wins")
    group = null() if by is None else ATTRIBUTES.c[by]
    query = (
        select(group.label("grp"), func.count(), func.sum(a.amount))
        .select_from(wins.join(ATTRIBUTES, attributes_at(wins.c.deal_id, wins.c.won_at, known_at)))
        .where(a.amount.is_not(None), func.coalesce(a.currency, spec.currency) == currency)
    )
    if by is not None:
        query = query.group_by(group)
    if only is not None:
        query = only.where(query)
    found: dict[str | None, tuple[int, Decimal]] = {}
    for grp, count, units in conn.execute(query):
        if by is None and not count:
            continue
        found[grp] = (int(count), from_units(int(units or 0)))
    return found


def _float(value: Fraction | None) -> float | None:
    return None if value is None else float(value)
