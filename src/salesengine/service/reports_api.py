"""``/api/v1/reports/...``: the command line's reports, each answering the same document
as its ``--json`` (reports/documents.py), over the caller's deals only."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from salesengine.access.principal import Principal
from salesengine.reports.documents import Row, rows_document
from salesengine.reports.recorded import earliest_recorded
from salesengine.service import schemas
from salesengine.service.answers import fresh
from salesengine.service.auth import Context, Reader
from salesengine.service.context import ServiceContext
from salesengine.service.openapi import FRESHNESS, problems
from salesengine.service.params import (
    AsOfQuery,
    BandsQuery,
    ByQuery,
    KnownAtQuery,
    KnownQuery,
    Policy,
    instant,
    invalid,
    now_or,
    required_instant,
    size_bands,
)
from salesengine.service.quota_schemas import PlanPer

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], dependencies=[KnownQuery])

# Every report: its freshness headers, and the problems any read may answer.
ANSWERS = FRESHNESS | problems(401, 403, 422, 503)

R = TypeVar("R")


@router.get(
    "/funnel",
    summary="The funnel as of T, known at K",
    response_model=schemas.Funnel,
    responses=ANSWERS,
)
def funnel(
    ctx: Context,
    who: Reader,
    policy: Policy,
    as_of: AsOfQuery = None,
    known_at: KnownAtQuery = None,
    by: ByQuery = None,
    bands: BandsQuery = None,
) -> JSONResponse:
    """Deals, amount and weighted amount per stage (`salesengine funnel --json`)."""
    from salesengine.reports.funnel import funnel as funnel_report

    t, k = now_or(instant(as_of, "as_of")), instant(known_at, "known_at")
    limits = size_bands(by, bands)

    def document(conn: Connection) -> object:
        rows = funnel_report(
            conn,
            ctx.policies,
            as_of=t,
            known_at=k,
            by=by,
            policy=policy,
            size_bands=limits,
            scope=who.scope,
        )
        return rows_document({"as_of": t, "known_at": k}, earliest_recorded(conn), rows, by)

    return fresh(ctx, document)


@router.get(
    "/compare",
    summary="The moves between T and T2",
    response_model=schemas.Compare,
    responses=ANSWERS,
)
def compare(
    ctx: Context,
    who: Reader,
    policy: Policy,
    to: Annotated[str, Query(description="The later instant T2.")],
    as_of: AsOfQuery = None,
    known_at: KnownAtQuery = None,
    by: ByQuery = None,
    bands: BandsQuery = None,
) -> JSONResponse:
    """Every move into and out of each stage in (T, T2] (`salesengine funnel --compare`)."""
    from salesengine.reports.funnel_moves import moves

    t, k = now_or(instant(as_of, "as_of")), instant(known_at, "known_at")
    t2 = required_instant(to, "to")
    if t2 <= t:
        raise invalid("to", "must be later than as_of")
    limits = size_bands(by, bands)

    def document(conn: Connection) -> object:
        rows = moves(
            conn,
            ctx.policies,
            start=t,
            end=t2,
            known_at=k,
            by=by,
            policy=policy,
            size_bands=limits,
            scope=who.scope,
        )
        asked = {"as_of": t, "compare": t2, "known_at": k}
        return rows_document(asked, earliest_recorded(conn), rows, by)

    return fresh(ctx, document)


FromQuery = Annotated[str, Query(alias="from", description="Window start F (included).")]
UntilQuery = Annotated[str, Query(description="Window end U (excluded).")]


def _window(start: str, until: str) -> tuple[datetime, datetime]:
    f, u = required_instant(start, "from"), required_instant(until, "until")
    if u <= f:
        raise invalid("until", "must be after from")
    return f, u


def _window_report(
    ctx: ServiceContext,
    who: Principal,
    report: Callable[..., Sequence[Row]],
    start: str,
    until: str,
    known_at: str | None,
    by: str | None,
    policy: str | None,
    bands: str | None,
) -> JSONResponse:
    f, u = _window(start, until)
    k = instant(known_at, "known_at")
    limits = size_bands(by, bands)

    def document(conn: Connection) -> object:
        rows = report(
            conn,
            ctx.policies,
            start=f,
            end=u,
            known_at=k,
            by=by,
            policy=policy,
            size_bands=limits,
            scope=who.scope,
        )
        asked = {"from": f, "to": u, "known_at": k}
        return rows_document(asked, earliest_recorded(conn), rows, by)

    return fresh(ctx, document)


@router.get(
    "/conversion",
    summary="Conversion and drop-off per stage in [F, U)",
    response_model=schemas.Conversion,
    responses=ANSWERS,
)
def conversion(
    ctx: Context,
    who: Reader,
    policy: Policy,
    start: FromQuery,
    until: UntilQuery,
    known_at: KnownAtQuery = None,
    by: ByQuery = None,
    bands: BandsQuery = None,
) -> JSONResponse:
    """For the deals first entering each stage in [F, U) (`salesengine conversion --json`)."""
    from salesengine.reports.conversion import conversion as report

    return _window_report(ctx, who, report, start, until, known_at, by, policy, bands)


@router.get(
    "/cycle-time",
    summary="Days in each stage for the stays that ended in [F, U)",
    response_model=schemas.CycleTime,
    responses=ANSWERS,
)
def cycle_time(
    ctx: Context,
    who: Reader,
    policy: Policy,
    start: FromQuery,
    until: UntilQuery,
    known_at: KnownAtQuery = None,
    by: ByQuery = None,
    bands: BandsQuery = None,
) -> JSONResponse:
    """And days to win for deals won then (`salesengine cycle-time --json`)."""
    from salesengine.reports.cycle_time import cycle_time as report

    return _window_report(ctx, who, report, start, until, known_at, by, policy, bands)


OwnerQuery = Annotated[str | None, Query(description="Only the deals this owner holds at T.")]
TeamQuery = Annotated[str | None, Query(description="Only the deals of this team at T.")]


def _open_deals_report(
    ctx: ServiceContext,
    who: Principal,
    report: Callable[..., R],
    document: Callable[[R, datetime | None], object],
    *,
    as_of: str | None,
    known_at: str | None,
    by: str | None,
    policy: str | None,
    owner: str | None,
    team: str | None,
    bands: str | None,
) -> JSONResponse:
    """A report on the deals open at T known at K (forecast, health), as the command line
    asks it (``cli/open_deals.py``), over the caller's deals."""
    from salesengine.reports.open_deals import Only

    t, k = now_or(instant(as_of, "as_of")), instant(known_at, "known_at")
    limits = size_bands(by, bands)

    def answer(conn: Connection) -> object:
        result = report(
            conn,
            ctx.policies,
            as_of=t,
            known_at=k,
            policy=policy,
            by=by,
            only=Only(owner=owner, team=team),
            size_bands=limits,
            scope=who.scope,
        )
        return document(result, earliest_recorded(conn))

    return fresh(ctx, answer)


@router.get(
    "/forecast",
    summary="Weighted pipeline and open deals by close week",
    response_model=schemas.Forecast,
    responses=ANSWERS,
)
def forecast(
    ctx: Context,
    who: Reader,
    policy: Policy,
    as_of: AsOfQuery = None,
    known_at: KnownAtQuery = None,
    by: ByQuery = None,
    owner: OwnerQuery = None,
    team: TeamQuery = None,
    bands: BandsQuery = None,
) -> JSONResponse:
    """The forecast as of T known at K (`salesengine forecast --json`)."""
    from salesengine.reports.documents import forecast_document
    from salesengine.reports.forecast import forecast as report

    return _open_deals_report(
        ctx, who, report, forecast_document, as_of=as_of, known_at=known_at, by=by,
        policy=policy, owner=owner, team=team, bands=bands,
    )  # fmt: skip


@router.get(
    "/health",
    summary="Pipeline health: grades, stale deals, contacts, visits",
    response_model=schemas.Health,
    responses=ANSWERS,
)
def health(
    ctx: Context,
    who: Reader,
    policy: Policy,
    as_of: AsOfQuery = None,
    known_at: KnownAtQuery = None,
    by: ByQuery = None,
    owner: OwnerQuery = None,
    team: TeamQuery = None,
    bands: BandsQuery = None,
    limit: Annotated[
        int | None,
        Query(ge=1, le=100_000, description="List at most N stale deals and contacts."),
    ] = None,
) -> JSONResponse:
    """Health as of T known at K (`salesengine health --json`)."""
    from salesengine.reports.documents import health_document
    from salesengine.reports.health import Health
    from salesengine.reports.health import health as report

    def document(result: Health, earliest: datetime | None) -> object:
        return health_document(result, limit, earliest)

    return _open_deals_report(
        ctx, who, report, document, as_of=as_of, known_at=known_at, by=by,
        policy=policy, owner=owner, team=team, bands=bands,
    )  # fmt: skip


@router.get(
    "/plan",
    summary="The deals each stage must hold to reach a target (per rep or team)",
    response_model=schemas.Plan | PlanPer,
    responses=ANSWERS,
)
def plan(
    ctx: Context,
    who: Reader,
    period: Annotated[str, Query(description="The period: 2026-Q2, 2026-05, 2026 (UTC).")],
    policy: Annotated[
        str | None,
        Query(description="The policy to plan; default the one policy of the caller's deals."),
    ] = None,
    target: Annotated[
        str | None,
        Query(
            description="Revenue target for the period, e.g. 1500000 (with per: each "
            "subject's; default their remaining quota)."
        ),
    ] = None,
    currency: Annotated[
        str | None,
        Query(pattern="^[A-Za-z]{3}$", description="Currency of the target; default the policy's."),
    ] = None,
    as_of: AsOfQuery = None,
    known_at: KnownAtQuery = None,
    per: Annotated[
        Literal["rep", "team"] | None,
        Query(description="A plan per rep (deal owner) or per team (`plan --per`)."),
    ] = None,
    ideal_from: Annotated[
        Literal["own", "team"] | None,
        Query(
            description="With per: plan each from their own previous period (own, the "
            "default) or the pooled one of every deal (team)."
        ),
    ] = None,
    rep: Annotated[str | None, Query(description="With per=rep: only this rep.")] = None,
    team: Annotated[str | None, Query(description="With per=team: only this team.")] = None,
) -> JSONResponse:
    """From the last period's conversion and pace, over the caller's deals
    (`salesengine plan --json`; with per, `plan --per --json` over the quotas the
    caller reaches)."""
    from salesengine.reports.periods import parse_period
    from salesengine.reports.plan import parse_target
    from salesengine.reports.plan import plan as report
    from salesengine.service.plan_per_api import PerAsked, plan_per_answer
    from salesengine.service.plan_policy import planned_policy

    try:
        amount = None if target is None else parse_target(target)
    except ValueError as e:
        raise invalid("target", str(e)) from None
    try:
        chosen = parse_period(period)
    except ValueError as e:
        raise invalid("period", str(e)) from None
    t, k = now_or(instant(as_of, "as_of")), instant(known_at, "known_at")
    policy = planned_policy(ctx, who, policy)
    if per is not None or ideal_from is not None or rep is not None or team is not None:
        asked = PerAsked.checked(per, ideal_from, rep, team, amount, chosen)
        return plan_per_answer(
            ctx, who, asked, policy=policy, currency=currency, as_of=t, known_at=k
        )
    if amount is None:
        raise invalid("target", "give the target (or per=rep|team to plan from each one's "
                      "remaining quota)")  # fmt: skip

    def document(conn: Connection) -> object:
        result = report(
            conn,
            ctx.policies,
            policy=policy,
            target=amount,
            period=chosen,
            as_of=t,
            known_at=k,
            currency=currency.upper() if currency else None,
            scope=who.scope,
        )
        return result.as_dict() | {"earliest_recorded": earliest_recorded(conn)}

    return fresh(ctx, document)
