"""Grades and pipeline health as of T, known at K (docs/metrics.md, "Grades and health").

Grades, stale deals and overdue contacts read the open deals (the funnel's own join);
the weekly visit counts read the visits read model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Unpack

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    and_,
    case,
    func,
    null,
    or_,
    select,
    true,
)

from salesengine.access.principal import Scope
from salesengine.access.scope_sql import scoped
from salesengine.domain.policy import ContactCadence, FunnelPolicy, GradeDays
from salesengine.projections import visits as visits_model
from salesengine.projections.base import from_units, from_us, to_us
from salesengine.reports.common import group_order, group_sql
from salesengine.reports.funnel import ATTRIBUTES, INTERVALS
from salesengine.reports.open_deals import (
    Only,
    midnight,
    open_deals,
    selected_deals,
    utc_day,
    week_label,
    week_start,
)
from salesengine.reports.slicing import Sliced, Slicing, check_policy

# The defaults of a policy that sets none of its own (policies.md, "Grades and contact
# cadence"); each deal is graded and its contacts judged by its own policy's.
_DEFAULT_GRADES = GradeDays()
_DEFAULT_CADENCE = ContactCadence()
# Highest days to the expected close per grade; D is the rest, and deals without a date.
GRADE_LIMITS: tuple[tuple[str, int], ...] = _DEFAULT_GRADES.limits
GRADES: tuple[str, ...] = ("A", "B", "C", "D")
# Contact cadence (养单) per grade, in days.
CADENCE_DAYS: Mapping[str, int] = MappingProxyType(_DEFAULT_CADENCE.as_dict())
DEFAULT_VISIT_TARGET: int = FunnelPolicy.model_fields["visit_target_per_week"].default
VISIT_WEEKS = 4
DAY_US = 86_400_000_000
VISITS = visits_model.table

NO_NEXT_STEP = "no_next_step"
NEXT_STEP_OVERDUE = "next_step_overdue"
OVER_STAGE_LIMIT = "over_stage_limit"
REASONS = (NO_NEXT_STEP, NEXT_STEP_OVERDUE, OVER_STAGE_LIMIT)


def grade(expected_close: date | None, at: datetime, policy: FunnelPolicy | None = None) -> str:
    """The grade at ``at`` of a deal of ``policy`` (None: the default grades' days)."""
    days = None if expected_close is None else (expected_close - utc_day(at)).days
    return (policy.grade_days if policy is not None else _DEFAULT_GRADES).grade(days)


def cadence_days(grade: str, policy: FunnelPolicy | None = None) -> int:
    """The contact cadence of ``grade`` in ``policy`` (None: the default cadence)."""
    return (policy.contact_cadence_days if policy is not None else _DEFAULT_CADENCE).days(grade)


@dataclass(frozen=True, slots=True)
class GradeRow:
    grade: str
    currency: str
    deals: int
    amount: Decimal
    group: str | None = None  # the value of the --by grouping, if any


@dataclass(frozen=True, slots=True)
class StaleDeal:
    deal: str
    policy: str
    owner: str | None
    stage: str
    reasons: tuple[str, ...]
    days_in_stage: float
    next_due: datetime | None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class OverdueContact:
    deal: str
    policy: str
    owner: str | None
    stage: str
    grade: str
    last_contact: datetime
    days_since: float
    cadence_days: int
    group: str | None = None


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """One group's open deals (docs/metrics.md, "Summary")."""

    group: str | None
    open: int
    stale: int
    no_next_step: int
    next_step_overdue: int
    over_stage_limit: int
    overdue_contacts: int


@dataclass(frozen=True, slots=True)
class VisitWeek:
    rep: str
    week: str
    starts: date
    visits: int
    effective: int
    target: int
    met: bool
    partial: bool


@dataclass(frozen=True, slots=True)
class Health:
    as_of: datetime
    known_at: datetime | None
    policy: str | None
    grades: list[GradeRow] = field(default_factory=list)
    stale: list[StaleDeal] = field(default_factory=list)
    overdue_contacts: list[OverdueContact] = field(default_factory=list)
    visits: list[VisitWeek] = field(default_factory=list)
    summary: list[SummaryRow] = field(default_factory=list)
    by: str | None = None  # the grouping of the grades, lists and summary
    only: Only = field(default_factory=Only)


def health(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    *,
    as_of: datetime,
    only: Only | None = None,
    scope: Scope | None = None,
    **slicing: Unpack[Slicing],
) -> Health:
    """Health of the open deals of ``policy`` and ``only`` (owner, team) per ``by`` group;
    the summary is per owner without ``by``. ``scope``: only the deals a principal
    reaches (docs/access.md), the visits per rep too: those logged on them; None: every
    deal."""
    check_policy(policies, slicing.get("policy"))
    only = only or Only()
    now = to_us(as_of)
    grades: dict[tuple[str, str, Any], tuple[int, Decimal]] = {}
    stale: list[StaleDeal] = []
    overdue: list[OverdueContact] = []
    summary: dict[Any, list[int]] = {}
    sliced = Sliced.of(policies, slicing)
    by = sliced.by
    for d in conn.execute(_deals_query(as_of, sliced, only, scope)):
        spec = policies[d.policy]
        group = None if by is None else d.grp
        close = None if d.expected_close is None else date.fromisoformat(d.expected_close)
        g = grade(close, as_of, spec)
        key = (g, d.currency or spec.currency, group)
        deals, amount = grades.get(key, (0, Decimal(0)))
        grades[key] = (deals + 1, amount + from_units(int(d.amount or 0)))
        counts = summary.setdefault(d.grp, [0] * 6)
        counts[0] += 1
        if (s := _stale(d, spec, now, group)) is not None:
            stale.append(s)
            counts[1] += 1
            for n, reason in enumerate(REASONS, 2):
                counts[n] += reason in s.reasons
        if (c := _overdue_contact(d, g, cadence_days(g, spec), now, group)) is not None:
            overdue.append(c)
            counts[5] += 1

    zero = (0, Decimal(0))
    slices = sliced.in_order((c, grp) for _, c, grp in grades)
    return Health(
        as_of=as_of,
        known_at=sliced.known_at,
        policy=sliced.policy,
        grades=[
            GradeRow(g, c, *grades.get((g, c, grp), zero), grp) for c, grp in slices for g in GRADES
        ],
        stale=sorted(stale, key=lambda s: (-s.days_in_stage, s.deal)),
        overdue_contacts=sorted(overdue, key=lambda c: (c.cadence_days - c.days_since, c.deal)),
        visits=visit_weeks(conn, policies, as_of, sliced, only, scope),
        summary=[
            SummaryRow(None if grp is None else str(grp), *summary[grp])
            for grp in sorted(summary, key=group_order(by or "owner", sliced.banding))
        ],
        by=by,
        only=only,
    )


def stale_reasons(
    spec: FunnelPolicy, stage: str, entered_at: int, next_due: int | None, now: int
) -> tuple[str, ...]:
    """Why an open deal is stale at ``now`` (none: it is not), in REASONS' order: from
    its stage, the instant it entered it and its next step's due instant (None: it has
    no open next step), each in microseconds (docs/metrics.md, "Grades and health")."""
    limit = spec.stage(stage).time_rules.max_days if spec.has_stage(stage) else None
    reasons = []
    if next_due is None:
        reasons.append(NO_NEXT_STEP)
    elif next_due < now:
        reasons.append(NEXT_STEP_OVERDUE)
    if limit is not None and now - entered_at > limit * DAY_US:
        reasons.append(OVER_STAGE_LIMIT)
    return tuple(reasons)


def _stale(d: Row[Any], spec: FunnelPolicy, now: int, group: str | None) -> StaleDeal | None:
    in_stage = now - int(d.entered_at)
    next_due = None if d.next_due is None else int(d.next_due)
    reasons = stale_reasons(spec, d.stage, int(d.entered_at), next_due, now)
    if not reasons:
        return None
    due = None if d.next_due is None else from_us(int(d.next_due))
    days = in_stage / DAY_US
    return StaleDeal(d.deal, d.policy, d.owner, d.stage, reasons, days, due, group)


def _overdue_contact(
    d: Row[Any], grade: str, cadence: int, now: int, group: str | None
) -> OverdueContact | None:
    last = max(int(d.opened_at), int(d.last_visit or d.opened_at))
    if now - last <= cadence * DAY_US:
        return None
    since = (now - last) / DAY_US
    return OverdueContact(
        d.deal, d.policy, d.owner, d.stage, grade, from_us(last), since, cadence, group
    )


def _deals_query(as_of: datetime, sliced: Sliced, only: Only, scope: Scope | None) -> Select[Any]:
    """The open deals with what health reads of each, grouped as the summary is: by the
    report's grouping, else by owner."""
    known_at = sliced.known_at
    i, a, v = INTERVALS.c, ATTRIBUTES.c, VISITS.c
    group = group_sql(ATTRIBUTES, sliced.by or "owner", sliced.banding)
    opening = INTERVALS.alias("opening")
    opened_at = (
        select(func.min(opening.c.entered_at))
        .where(opening.c.deal_id == i.deal_id, opening.c.via == "opened")
        .scalar_subquery()
    )
    last_visit = select(func.max(v.effective_at)).where(
        v.deal_id == i.deal_id, v.effective_at <= to_us(as_of)
    )
    if known_at is not None:
        last_visit = last_visit.where(v.recorded_at <= to_us(known_at))
    return open_deals(
        a.deal,
        i.policy,
        i.stage,
        i.entered_at,
        a.owner,
        a.currency,
        a.amount,
        a.expected_close,
        a.next_due,
        opened_at.label("opened_at"),
        last_visit.scalar_subquery().label("last_visit"),
        (group if group is not None else null()).label("grp"),
        at=as_of,
        known_at=known_at,
        policy=sliced.policy,
        only=only,
        scope=scope,
    )


def visit_weeks(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    as_of: datetime,
    sliced: Sliced,
    only: Only,
    scope: Scope | None = None,
) -> list[VisitWeek]:
    """Visits per rep for T's ISO week and the three before, at or before T, known at K;
    with a policy, ``only`` (owner, team) or a scope, those on the deals they keep."""
    known_at, policy = sliced.known_at, sliced.policy
    if policy is not None:
        target = policies[policy].visit_target_per_week
    else:
        target = max(
            (p.visit_target_per_week for p in policies.values()), default=DEFAULT_VISIT_TARGET
        )
    current = week_start(utc_day(as_of))
    mondays = [current - timedelta(weeks=n) for n in range(VISIT_WEEKS - 1, -1, -1)]
    starts = [to_us(midnight(m)) for m in mondays]
    v = VISITS.c
    # The week is computed in a subquery: PostgreSQL would not see a parameterised CASE in
    # GROUP BY as the same expression as in the select list.
    week = case(
        *((v.effective_at >= start, n) for n, start in reversed(list(enumerate(starts)))),
        else_=-1,
    )
    hit = case((counts_as_effective(policies, policy), 1), else_=0)
    inner = select(v.actor, week.label("week"), hit.label("hit")).where(
        v.effective_at >= starts[0], v.effective_at <= to_us(as_of)
    )
    if known_at is not None:
        inner = inner.where(v.recorded_at <= to_us(known_at))
    if policy is not None:
        i = INTERVALS.c
        inner = inner.where(
            v.deal_id.in_(select(i.deal_id).where(i.policy == policy, i.via == "opened"))
        )
    if not only.everyone:
        inner = inner.where(v.deal_id.in_(selected_deals(as_of, known_at, only)))
    w = scoped(inner, scope, v.deal_id).subquery()
    query = select(w.c.actor, w.c.week, func.count(), func.sum(w.c.hit)).group_by(
        w.c.actor, w.c.week
    )
    counts: dict[tuple[str, int], tuple[int, int]] = {}
    for actor, n, logged, effective in conn.execute(query):
        counts[(actor, int(n))] = (int(logged), int(effective or 0))
    rows = []
    for rep in sorted({r for r, _ in counts}):
        for n, monday in enumerate(mondays):
            logged, effective = counts.get((rep, n), (0, 0))
            partial = n == len(mondays) - 1
            rows.append(
                VisitWeek(
                    rep,
                    week_label(monday),
                    monday,
                    logged,
                    effective,
                    target,
                    effective >= target,
                    partial,
                )
            )
    return rows


def counts_as_effective(
    policies: Mapping[str, FunnelPolicy], policy: str | None
) -> ColumnElement[bool]:
    """A visit logged effective, of a kind its deal's policy lets count as effective (all
    kinds, unless the policy names ``effective_visit_kinds``); with ``policy``, the visits
    are that policy's."""
    v, i = VISITS.c, INTERVALS.c
    logged = v.effective == true()
    chosen = policies if policy is None else {policy: policies[policy]}
    limited = {
        name: p.effective_visit_kinds
        for name, p in chosen.items()
        if p.effective_visit_kinds is not None
    }
    if not limited:
        return logged
    if policy is not None:
        return and_(logged, v.kind.in_(limited[policy]))
    # The deal's policy: one opening row per recording of it, all of the same policy.
    deal_policy = (
        select(func.max(i.policy))
        .where(i.deal_id == v.deal_id, i.via == "opened")
        .scalar_subquery()
    )
    allowed = or_(
        deal_policy.not_in(list(limited)),
        *(and_(deal_policy == name, v.kind.in_(kinds)) for name, kinds in limited.items()),
    )
    return and_(logged, allowed)
