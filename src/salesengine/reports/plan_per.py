"""The plan per rep or per team (docs/metrics.md, "Plan per rep and per team"): each
owner's (team's) ideal funnel, from their own previous period or the pooled one,
against their actual funnel, reverse-calculated from a target or from their remaining
quota.

The figures are the plan's own (``reports.plan``), grouped as the window reports and the
funnel group them (``by="owner"`` or ``"team"``); each subject's plan is then built by
``plan.plan_from``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Connection

from salesengine.access.principal import Scope
from salesengine.domain.policy import FunnelPolicy
from salesengine.domain.values import OUTCOMES
from salesengine.reports.conversion import conversion
from salesengine.reports.cycle_time import cycle_time
from salesengine.reports.funnel import funnel
from salesengine.reports.periods import Period
from salesengine.reports.plan import Plan, PlanFigures, plan_from, won_by
from salesengine.reports.vvalue import VValue

Per = Literal["owner", "team"]
IdealFrom = Literal["own", "team"]


@dataclass(frozen=True, slots=True)
class SubjectTarget:
    """A subject's target: an amount (given, or its remaining quota) or the reason it
    has none. A subject with a quota in the plan's currency carries it, and the wins
    (deals, amount) the V value reduced it by: the period's won row is those wins, so
    that each counts once, in what remains."""

    amount: Decimal | None
    source: str  # "given", "remaining quota" or "none"
    reason: str | None = None
    quota: Decimal | None = None
    won: tuple[int, Decimal] | None = None


@dataclass(frozen=True, slots=True)
class SubjectPlan:
    subject: str | None
    target_from: str
    plan: Plan
    quota: Decimal | None = None  # the quota the remaining target is left of
    won_toward_quota: tuple[int, Decimal] | None = None

    def as_dict(self) -> dict[str, Any]:
        won = self.won_toward_quota
        return {
            "subject": self.subject,
            "target_from": self.target_from,
            "quota": self.quota,
            "won_toward_quota": None if won is None else {"deals": won[0], "amount": won[1]},
        } | self.plan.as_dict()


@dataclass(frozen=True, slots=True)
class _Grouped:
    cohorts: dict[Any, dict[str, tuple[int, int]]]
    stays: dict[Any, dict[str, float | None]]
    actual: dict[Any, dict[str, tuple[int, Decimal]]]
    won_before: dict[Any, tuple[int, Decimal]]
    won_now: dict[Any, tuple[int, Decimal]]


def _figures(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    spec: FunnelPolicy,
    currency: str,
    period: Period,
    as_of: datetime,
    known_at: datetime | None,
    by: Per | None,
    scope: Scope | None = None,
) -> _Grouped:
    """The plan's figures per group (one group, None, without ``by``), over the deals
    ``scope`` reaches."""
    prev = period.previous()
    cohorts: dict[Any, dict[str, tuple[int, int]]] = {}
    for r in conversion(conn, policies, start=prev.start, end=prev.end, known_at=known_at,
                        policy=spec.name, by=by, scope=scope):  # fmt: skip
        cohorts.setdefault(r.group, {})[r.stage] = (r.cohort, r.advanced)
    stays: dict[Any, dict[str, float | None]] = {}
    for c in cycle_time(conn, policies, start=prev.start, end=prev.end, known_at=known_at,
                        policy=spec.name, by=by, scope=scope):  # fmt: skip
        stays.setdefault(c.group, {})[c.stage] = c.mean_days
    actual: dict[Any, dict[str, tuple[int, Decimal]]] = {}
    for f in funnel(
        conn, policies, as_of=as_of, known_at=known_at, policy=spec.name, by=by, scope=scope
    ):
        if f.currency == currency:
            actual.setdefault(f.group, {})[f.stage] = (f.deals, f.amount)
    return _Grouped(
        cohorts,
        stays,
        actual,
        won_by(conn, spec, currency, prev.start, prev.end, known_at, by=by, scope=scope),
        won_by(
            conn, spec, currency, period.start, period.end, known_at, upto=as_of, by=by, scope=scope
        ),
    )


def plans_per(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    *,
    per: Per,
    policy: str,
    targets: Mapping[str | None, SubjectTarget],
    period: Period,
    as_of: datetime,
    known_at: datetime | None = None,
    currency: str | None = None,
    ideal_from: IdealFrom = "own",
    given: Decimal | None = None,
    subject: str | None = None,
    scope: Scope | None = None,
) -> list[SubjectPlan]:
    """Each subject's plan. ``given``: the target of every subject; without it, each
    subject's entry in ``targets`` (its remaining quota, or why it has none). Subjects:
    every group found in the figures and every key of ``targets``; ``subject`` keeps one.
    ``scope``: planned from, and against, only the deals a principal reaches."""
    if policy not in policies:
        raise ValueError(f"no policy '{policy}'")
    spec = policies[policy]
    cur = currency or spec.currency
    own = _figures(conn, policies, spec, cur, period, as_of, known_at, per, scope)
    pooled = _figures(conn, policies, spec, cur, period, as_of, known_at, None, scope)
    ideal = own if ideal_from == "own" else pooled
    found = {g for g, rows in own.actual.items() if _open(rows)}
    found |= {g for g, rows in own.cohorts.items() if any(c for c, _ in rows.values())}
    found |= set(own.won_before) | set(own.won_now) | set(targets)
    plans = []
    for who in sorted(found, key=lambda g: (g is None, g or "")):
        if subject is not None and who != subject:
            continue
        key = who if ideal_from == "own" else None
        if given is not None:
            target = SubjectTarget(given, "given")
        else:
            target = targets.get(who) or SubjectTarget(
                None, "none", f"{per} {who or '(none)'} has no quota for {period.name}"
            )
        # A remaining quota is already net of the wins the V value counted: they are the
        # won row, never wins needed again (nor the plan's own count of them beside).
        won_now = target.won if target.won is not None else own.won_now.get(who)
        figures = PlanFigures(
            cohorts=ideal.cohorts.get(key, {}),
            stays=ideal.stays.get(key, {}),
            actual=own.actual.get(who, {}),
            won_before=ideal.won_before.get(key, (0, Decimal(0))),
            won_now=won_now or (0, Decimal(0)),
        )
        extra = () if target.reason is None else (target.reason,)
        built = plan_from(
            figures, spec, currency=cur, target=target.amount, period=period, as_of=as_of,
            known_at=known_at, more_problems=extra, net_of_won=target.won is not None,
        )  # fmt: skip
        plans.append(SubjectPlan(who, target.source, built, target.quota, target.won))
    return plans


def _open(rows: Mapping[str, tuple[int, Decimal]]) -> bool:
    return any(deals for stage, (deals, _) in rows.items() if stage not in OUTCOMES)


def remaining_targets(v: VValue, currency: str, per: str) -> dict[str | None, SubjectTarget]:
    """Each subject's remaining quota in the plan's currency, or why it has no target."""
    found: dict[str | None, SubjectTarget] = {}
    for r in v.rows:
        who = f"{per} {r.subject or '(none)'}"
        if r.quota is None:
            if r.subject not in found and r.currency == currency:
                reason = f"{who} has no quota for {v.period.name} in {currency}"
                found[r.subject] = SubjectTarget(None, "none", reason)
            continue
        if r.currency != currency:
            reason = f"{who}'s quota for {v.period.name} is in {r.currency}, the plan in {currency}"
            found[r.subject] = SubjectTarget(None, "none", reason)
            continue
        won = (r.won_deals, r.won)
        if r.met:
            reason = f"{who} has met the quota for {v.period.name}: nothing remains to plan for"
            found[r.subject] = SubjectTarget(None, "none", reason, r.quota, won)
        else:
            found[r.subject] = SubjectTarget(r.remaining, "remaining quota", None, r.quota, won)
    return found
