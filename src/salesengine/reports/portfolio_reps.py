"""Rep evaluation as the Funnel List does it (docs/metrics.md, "Rep evaluation"): each
rep's actual funnel at T against the ideal funnel the plan reverse-calculates from the
rep's target, not only what the rep closed.

The ideal is the plan's (reports/plan.py): its win rates and average won deal for the
period, and its own ``needed`` for each rep's target: the rep's quota for the period
where there is one (``quota_targets``), else what the rep won in the previous period.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection

from salesengine.access.principal import Scope
from salesengine.application.quota_figures import QuotaFigure
from salesengine.domain.policy import FunnelPolicy
from salesengine.reports.common import by_name
from salesengine.reports.periods import Period
from salesengine.reports.plan import Plan, needed, plan, won_by
from salesengine.reports.portfolio_deals import Selection, open_at
from salesengine.reports.portfolio_exits import WON
from salesengine.reports.portfolio_shape import period_of

# Where a rep's target came from: one given for every rep, the rep's quota for the
# period (or another target per rep given to ``evaluate_reps(targets=...)``), or what
# the rep won in the previous period.
GIVEN, QUOTA, PREVIOUS = "given", "quota", "previous period"


@dataclass(frozen=True, slots=True)
class RepStage:
    stage: str  # a stage key, or won
    needed: int | None
    deals: int
    amount: Decimal

    @property
    def gap(self) -> int | None:
        return None if self.needed is None else self.deals - self.needed

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "needed": self.needed,
            "deals": self.deals,
            "amount": self.amount,
            "gap": self.gap,
        }


@dataclass(frozen=True, slots=True)
class RepEvaluation:
    rep: str | None
    target: Decimal | None
    target_from: str | None  # GIVEN, QUOTA, PREVIOUS; None without a target
    stages: tuple[RepStage, ...]  # the policy's stages, then won

    @property
    def _scored(self) -> list[RepStage]:
        return [s for s in self.stages[:-1] if s.needed]

    @property
    def fill(self) -> float | None:
        """The mean share of each stage's ideal the rep's funnel holds, each capped at 1."""
        scored = self._scored
        if not scored:
            return None
        filled = sum(min(Fraction(s.deals, s.needed or 1), Fraction(1)) for s in scored)
        return float(filled / len(scored))

    @property
    def short(self) -> int | None:
        scored = self._scored
        if not scored:
            return None
        return sum(max((s.needed or 0) - s.deals, 0) for s in scored)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rep": self.rep,
            "target": self.target,
            "target_from": self.target_from,
            "fill": self.fill,
            "short": self.short,
            "stages": [s.as_dict() for s in self.stages],
        }


@dataclass(frozen=True, slots=True)
class RepsReport:
    plan: Plan  # the ideal's figures: win rates, the average won deal
    reps: tuple[RepEvaluation, ...]

    def as_dict(self) -> dict[str, Any]:
        p = self.plan
        return {
            "policy": p.policy,
            "currency": p.currency,
            "as_of": p.as_of,
            "known_at": p.known_at,
            "period": p.period.as_dict(),
            "previous": p.previous.as_dict() | {"in_progress": p.previous_in_progress},
            "average_won": p.average_won,
            "win_rates": {
                r.stage: None if r.win_rate is None else float(r.win_rate) for r in p.rows
            },
            "problems": list(p.problems),
            "reps": [r.as_dict() for r in self.reps],
        }


def won_per_rep(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    chosen: Selection,
    start: datetime,
    end: datetime,
    known_at: datetime | None,
    *,
    upto: datetime | None = None,
    scope: Scope | None = None,
) -> dict[str | None, tuple[int, Decimal]]:
    """(deals, amount) won in [start, end) (and by ``upto``) per owner at the win: the
    plan's won deals (each at its last win, with an amount in the currency), per rep."""
    return won_by(
        conn,
        policies[chosen.policy],
        chosen.currency_of(policies),
        start,
        end,
        known_at,
        upto=upto,
        scope=scope,
        by="owner",
        only=chosen.only,
    )


def evaluate_reps(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    chosen: Selection,
    *,
    as_of: datetime,
    known_at: datetime | None = None,
    period: Period | None = None,
    target: Decimal | None = None,
    targets: Mapping[str, Decimal] | None = None,
    scope: Scope | None = None,
) -> RepsReport:
    """Each rep's actual funnel against the ideal for the rep's target: ``targets`` per
    rep where given (quotas, ``quota_targets``), else ``target`` for every rep, else the
    rep's own won amount in the previous period. ``scope``: only the deals a principal
    reaches (docs/access.md); None: every deal."""
    if target is not None and not target > 0:
        raise ValueError("the target must be a positive amount")
    for name, amount in (targets or {}).items():
        if amount < 0:  # a quota of 0 asks for nothing
            raise ValueError(f"{name}'s target must not be negative")
    chosen_period = period or period_of(as_of, "quarter")
    prev = chosen_period.previous()
    currency = chosen.currency_of(policies)
    ideal = plan(
        conn,
        policies,
        policy=chosen.policy,
        # The win rates and average won deal do not depend on the target.
        target=target or Decimal(1),
        period=chosen_period,
        as_of=as_of,
        known_at=known_at,
        currency=currency,
        scope=scope,
    )
    average = None if not ideal.won_amount else Fraction(ideal.won_amount) / ideal.won_deals
    rates = {r.stage: r.win_rate for r in ideal.rows}
    held: dict[str | None, dict[str, tuple[int, Decimal]]] = {}
    for d in open_at(conn, policies, chosen, at=as_of, known_at=known_at, scope=scope):
        n, amount = held.setdefault(d.owner, {}).get(d.stage, (0, Decimal(0)))
        held[d.owner][d.stage] = (n + 1, amount + d.amount)
    won_now = won_per_rep(
        conn,
        policies,
        chosen,
        chosen_period.start,
        chosen_period.end,
        known_at,
        upto=as_of,
        scope=scope,
    )
    won_before = won_per_rep(conn, policies, chosen, prev.start, prev.end, known_at, scope=scope)
    assigned = {
        name: amount
        for name, amount in (targets or {}).items()
        if chosen.only.owner in (None, name)  # a rep kept out stays out
    }
    # A target per rep lists its rep, funnel empty or not; under a team the reps are
    # those of the team's deals (a quota need not name the rep's team).
    reps = {*held, *won_now, *won_before}
    if chosen.only.team is None:
        reps |= set(assigned)
    rows = []
    for rep in sorted(reps, key=by_name):
        goal, source = rep_target(rep, assigned, target, won_before)
        stages = [
            RepStage(
                s,
                None if goal is None else needed(goal, average, rates[s]),
                *held.get(rep, {}).get(s, (0, Decimal(0))),
            )
            for s in policies[chosen.policy].stage_keys
        ]
        stages.append(
            RepStage(
                WON,
                None if goal is None else needed(goal, average, rates[WON]),
                *won_now.get(rep, (0, Decimal(0))),
            )
        )
        rows.append(RepEvaluation(rep, goal, source, tuple(stages)))
    return RepsReport(ideal, tuple(rows))


def rep_target(
    rep: str | None,
    assigned: Mapping[str, Decimal],
    target: Decimal | None,
    won_before: Mapping[str | None, tuple[int, Decimal]],
) -> tuple[Decimal | None, str | None]:
    if rep is not None and rep in assigned:
        return assigned[rep], QUOTA
    if target is not None:
        return target, GIVEN
    won = won_before.get(rep, (0, Decimal(0)))[1]
    return (won, PREVIOUS) if won > 0 else (None, None)


def no_quota_period(period: str) -> str | None:
    """Why no quota applies to ``period`` (a week or a range of dates), or None for a
    year, quarter or month, the periods quotas are set for."""
    from salesengine.domain.quota import QuotaPeriod

    try:
        QuotaPeriod.parse(period)
    except ValueError:
        return f"{period} is no quota period (a year, quarter or month): no quota applies"
    return None


def quota_targets(
    figures: Sequence[QuotaFigure], currency: str
) -> tuple[dict[str, Decimal], tuple[str, ...]]:
    """Each rep's quota for the period (``Quotas.figures``) in the evaluation's currency,
    as ``evaluate_reps``'s targets; and why a rep's quota cannot be one (another
    currency: amounts are never converted), for the rep to be judged on its previous
    period instead."""
    targets: dict[str, Decimal] = {}
    notes = []
    for f in figures:
        if f.kind != "rep" or f.amount is None:
            continue
        if f.currency == currency:
            targets[f.subject] = f.amount
        else:
            notes.append(
                f"rep {f.subject}'s quota for {f.period} is in {f.currency}, the evaluation "
                f"in {currency}: judged on the previous period instead"
            )
    return targets, tuple(notes)
