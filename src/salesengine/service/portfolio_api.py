"""``/api/v1/reports/portfolio/...``: the Funnel List's analysis of reps and teams (funnel
shape, the projection, rep evaluation), each answering what ``salesengine portfolio
shape|project|reps --json`` prints, over the caller's deals only. The backtest stays on
the command line: it projects once per past instant and takes minutes on a real store.

A projection is bounded: at most ``MAX_RUNS`` runs, each deal moving at most 100 times
(reports/portfolio_projection.py), so no request can hold a worker for long."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from salesengine.access.principal import Scope
from salesengine.access.scope_sql import scoped_policies
from salesengine.reports.recorded import earliest_recorded
from salesengine.service import portfolio_schemas
from salesengine.service.answers import fresh
from salesengine.service.auth import Context, Reader
from salesengine.service.context import ServiceContext
from salesengine.service.openapi import FRESHNESS, problems
from salesengine.service.params import (
    AsOfQuery,
    KnownAtQuery,
    KnownQuery,
    Policy,
    instant,
    invalid,
    now_or,
)
from salesengine.service.period_params import CurrencyQuery, period, target

router = APIRouter(
    prefix="/api/v1/reports/portfolio", tags=["portfolio"], dependencies=[KnownQuery]
)

ANSWERS = FRESHNESS | problems(401, 403, 422, 503)
MAX_RUNS = 5000  # the command line's default is 1000
MAX_DAYS = 3660.0  # a window or horizon of ten years is past any sales cycle


class Report(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


OwnerQuery = Annotated[str | None, Query(description="Only the deals of this owner.")]
TeamQuery = Annotated[str | None, Query(description="Only the deals of this team.")]
PeriodQuery = Annotated[
    str | None,
    Query(
        alias="period",
        description="The plan's period, whose previous period gives the conversions; "
        "default T's calendar quarter (YYYY, YYYY-Qn, YYYY-MM, YYYY-Www or F..U).",
    ),
]


def _policy_of(conn: Connection, given: str | None, scope: Scope) -> str:
    """The policy given, which the caller's deals must follow, else the one policy of the
    caller's deals (as ``salesengine portfolio`` chooses it over the store's). Only the
    deals in scope are read: a refusal never names, nor a default depends on, a policy
    of deals the caller does not reach."""
    held = sorted({str(p) for p in conn.execute(scoped_policies(scope)).scalars()})
    if given is not None:
        if given not in held:
            yours = f"yours follow {', '.join(held)}" if held else "you reach no deals"
            raise invalid(
                "policy", f"none of the deals you reach follow policy {given!r} ({yours})"
            )
        return given
    if len(held) != 1:
        yours = f"follow {', '.join(held)}: name one" if held else "are none"
        raise invalid("policy", f"the deals you reach {yours}")
    return held[0]


def _answer(
    ctx: ServiceContext,
    report: Callable[[Connection, Any], Report],
    *,
    policy: str | None,
    currency: str | None,
    owner: str | None,
    team: str | None,
    scope: Scope,
    bad: str | None = None,
    notes: list[str] | None = None,
) -> JSONResponse:
    """The report over the chosen deals of the caller's scope; a ValueError it raises is
    a 422 naming ``bad``."""
    from salesengine.reports.open_deals import Only
    from salesengine.reports.portfolio_deals import Selection

    def document(conn: Connection) -> object:
        chosen = Selection(
            _policy_of(conn, policy, scope),
            currency.upper() if currency else None,
            Only(owner, team),
        )
        try:
            result = report(conn, chosen)
        except ValueError as e:
            if bad is None:
                raise
            raise invalid(bad, str(e)) from None
        extra = {} if notes is None else {"notes": list(notes)}
        return result.as_dict() | extra | {"earliest_recorded": earliest_recorded(conn)}

    return fresh(ctx, document)


@router.get(
    "/shape",
    summary="Funnel shape per rep and team against the policy's pyramid",
    response_model=portfolio_schemas.Shape,
    responses=ANSWERS,
)
def shape(
    ctx: Context,
    who: Reader,
    policy: Policy,
    currency: CurrencyQuery = None,
    owner: OwnerQuery = None,
    team: TeamQuery = None,
    as_of: AsOfQuery = None,
    known_at: KnownAtQuery = None,
    period_: PeriodQuery = None,
    every: Annotated[
        Literal["week", "month", "quarter"], Query(description="New deals per period of this.")
    ] = "month",
    periods: Annotated[
        int, Query(ge=1, le=120, description="How many periods of new deals, T's last.")
    ] = 3,
) -> JSONResponse:
    """As of T known at K, with the new deals entering per period
    (`salesengine portfolio shape --json`)."""
    from salesengine.reports.portfolio_shape import shape as report

    t, k = now_or(instant(as_of, "as_of")), instant(known_at, "known_at")
    chosen_period = period(period_)
    return _answer(
        ctx,
        lambda conn, chosen: report(
            conn, ctx.policies, chosen, as_of=t, known_at=k, period=chosen_period, every=every,
            periods=periods, scope=who.scope,
        ),
        policy=policy, currency=currency, owner=owner, team=team, scope=who.scope,
    )  # fmt: skip


WindowQuery = Annotated[
    float,
    Query(gt=0, le=MAX_DAYS, description="Days before T the stage exits are read from."),
]
HorizonQuery = Annotated[
    float | None,
    Query(
        gt=0,
        le=MAX_DAYS,
        description="Days to project; default one sales cycle: the median days from opening "
        "to won of the deals won in the window.",
    ),
]


@router.get(
    "/projection",
    summary="Each rep's and team's open funnel in one sales cycle, with 80% bands",
    response_model=portfolio_schemas.Projection,
    responses=ANSWERS,
)
def projection(
    ctx: Context,
    who: Reader,
    policy: Policy,
    currency: CurrencyQuery = None,
    owner: OwnerQuery = None,
    team: TeamQuery = None,
    as_of: AsOfQuery = None,
    known_at: KnownAtQuery = None,
    window: WindowQuery = 91.0,
    horizon: HorizonQuery = None,
    runs: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_RUNS,
            description=f"Monte Carlo runs; at most {MAX_RUNS} here (the command line takes more).",
        ),
    ] = 1000,
    seed: Annotated[
        int, Query(ge=0, le=2**32 - 1, description="Randomness seed: same seed, same figures.")
    ] = 7,
    empty_share: Annotated[
        float,
        Query(
            ge=0.0,
            le=1.0,
            description="A funnel empties when the band's upper end of its open deals is at "
            "most this share of those open now.",
        ),
    ] = 0.25,
) -> JSONResponse:
    """If no new prospects are added: the open deals at T moved by Monte Carlo, seeded
    (`salesengine portfolio project --json`)."""
    from salesengine.reports.portfolio_projection import project

    t, k = now_or(instant(as_of, "as_of")), instant(known_at, "known_at")
    return _answer(
        ctx,
        lambda conn, chosen: project(
            conn, ctx.policies, chosen, as_of=t, known_at=k, window_days=window,
            horizon_days=horizon, runs=runs, seed=seed, empty_share=empty_share,
            scope=who.scope,
        ),
        policy=policy, currency=currency, owner=owner, team=team, scope=who.scope,
        bad="horizon",
    )  # fmt: skip


@router.get(
    "/reps",
    summary="Each rep's funnel against the ideal for their target, with its fill score",
    response_model=portfolio_schemas.Reps,
    responses=ANSWERS,
)
def reps(
    ctx: Context,
    who: Reader,
    policy: Policy,
    currency: CurrencyQuery = None,
    owner: OwnerQuery = None,
    team: TeamQuery = None,
    as_of: AsOfQuery = None,
    known_at: KnownAtQuery = None,
    period_: PeriodQuery = None,
    target_: Annotated[
        str | None,
        Query(
            alias="target",
            description="Every rep's target for the period; default each rep's own won "
            "amount in the previous period.",
        ),
    ] = None,
) -> JSONResponse:
    """Rep evaluation as of T (`salesengine portfolio reps --json`): each rep held to
    their quota for the period where the caller reaches it (docs/access.md, "Quotas"),
    else to last period's wins."""
    from salesengine.access.quota_scope import scoped_figures
    from salesengine.application.quotas import Quotas
    from salesengine.reports.portfolio_deals import Selection
    from salesengine.reports.portfolio_reps import evaluate_reps, no_quota_period, quota_targets
    from salesengine.reports.portfolio_shape import period_of

    t, k = now_or(instant(as_of, "as_of")), instant(known_at, "known_at")
    planned = period(period_) or period_of(t, "quarter")
    goal = target(target_)
    why = None if goal is not None else no_quota_period(planned.name)
    figures = (
        [] if goal is not None or why is not None
        else scoped_figures(Quotas(ctx.engine), who.scope, planned.name, t, k)
    )  # fmt: skip
    notes: list[str] = []

    def evaluate(conn: Connection, chosen: Selection) -> Report:
        targets, other_currency = quota_targets(figures, chosen.currency_of(ctx.policies))
        notes[:] = [*([] if why is None else [why]), *other_currency]
        return evaluate_reps(
            conn, ctx.policies, chosen, as_of=t, known_at=k, period=planned, target=goal,
            targets=targets, scope=who.scope,
        )  # fmt: skip

    return _answer(
        ctx, evaluate, policy=policy, currency=currency, owner=owner, team=team,
        scope=who.scope, bad="target", notes=notes,
    )  # fmt: skip
