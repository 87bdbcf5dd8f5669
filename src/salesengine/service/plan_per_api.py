"""``/api/v1/reports/plan?per=rep|team``: each rep's (team's) plan, for a target or
their remaining quota, answering what ``salesengine plan --per --json`` prints, planned
from and against only the caller's deals, and the quotas the caller reaches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from salesengine.access.principal import Principal
from salesengine.access.quota_scope import reaches_team, scoped_figures
from salesengine.application.quotas import Quotas
from salesengine.reports.periods import Period
from salesengine.reports.recorded import QUOTAS, earliest_recorded
from salesengine.service.answers import fresh
from salesengine.service.context import ServiceContext
from salesengine.service.params import invalid
from salesengine.service.period_params import QUOTA_UNITS

Per = Literal["rep", "team"]
IdealFrom = Literal["own", "team"]


@dataclass(frozen=True, slots=True)
class PerAsked:
    per: Per
    ideal_from: IdealFrom
    subject: str | None
    target: Decimal | None
    period: Period

    @classmethod
    def checked(
        cls,
        per: Per | None,
        ideal_from: IdealFrom | None,
        rep: str | None,
        team: str | None,
        target: Decimal | None,
        period: Period,
    ) -> PerAsked:
        """The question, or a 422 naming the parameter that does not fit it."""
        if per is None:
            name = "rep" if rep is not None else "team" if team is not None else "ideal_from"
            raise invalid(name, "applies to a plan per rep or team: give per=rep or per=team")
        if per == "rep" and team is not None:
            raise invalid("team", "applies with per=team")
        if per == "team" and rep is not None:
            raise invalid("rep", "applies with per=rep")
        if target is None and period.unit not in QUOTA_UNITS:
            raise invalid(
                "period",
                f"{period.name}: without a target each plan is for the remaining quota, and "
                "quotas are set per year, quarter or month (YYYY, YYYY-Qn, YYYY-MM)",
            )
        return cls(per, ideal_from or "own", rep or team, target, period)


def plan_per_answer(
    ctx: ServiceContext,
    who: Principal,
    asked: PerAsked,
    *,
    policy: str,
    currency: str | None,
    as_of: datetime,
    known_at: datetime | None,
) -> JSONResponse:
    from salesengine.reports.plan_per import SubjectTarget, plans_per, remaining_targets
    from salesengine.reports.plan_targets import plan_per_document
    from salesengine.reports.vvalue import vvalue

    t, k = as_of, known_at
    cur = currency.upper() if currency else ctx.policies[policy].currency

    def document(conn: Connection) -> object:
        targets: dict[str | None, SubjectTarget] = {}
        if asked.target is None:
            figures = scoped_figures(Quotas(ctx.engine), who.scope, asked.period.name, t, k)
            v = vvalue(
                conn, ctx.policies, figures, period=asked.period, as_of=t, known_at=k,
                kind=asked.per, scope=who.scope,
            )  # fmt: skip
            targets = remaining_targets(v, cur, asked.per)
        plans = plans_per(
            conn, ctx.policies, per="owner" if asked.per == "rep" else "team", policy=policy,
            targets=targets, period=asked.period, as_of=t, known_at=k, currency=cur,
            ideal_from=asked.ideal_from, given=asked.target, subject=asked.subject,
            scope=who.scope,
        )  # fmt: skip
        if asked.per == "team":  # a team out of reach is left out, not shown partial
            plans = [p for p in plans if reaches_team(who.scope, p.subject)]
        if asked.subject is not None and not plans:  # out of scope reads as unknown
            raise invalid(asked.per, f"no {asked.per} named {asked.subject!r} has deals or "
                          f"quotas in {asked.period.name}")  # fmt: skip
        return plan_per_document(
            per=asked.per, ideal_from=asked.ideal_from, policy=policy, currency=cur,
            target=asked.target, period=asked.period, as_of=t, known_at=k, plans=plans,
            earliest=earliest_recorded(conn, ctx.engine, QUOTAS),
        )  # fmt: skip

    return fresh(ctx, document)
