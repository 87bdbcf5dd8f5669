"""``/api/v1/deals/...``: one deal now, and the auditor's replay of its history. A deal
out of the caller's scope answers exactly as one that does not exist."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from salesengine.access.principal import Principal
from salesengine.application.json_form import jsonable
from salesengine.application.names import checked_name
from salesengine.domain.deal import Deal
from salesengine.reports.deal_list import MAX_LIMIT
from salesengine.service import schemas
from salesengine.service.answers import fresh
from salesengine.service.auth import Context, HistoryReader, Reader
from salesengine.service.context import ServiceContext
from salesengine.service.key_routes import KeyRoute
from salesengine.service.openapi import FRESHNESS, problems
from salesengine.service.params import AsOfQuery, KnownAtQuery, KnownQuery, instant, invalid
from salesengine.service.problems import Problem

router = APIRouter(
    prefix="/api/v1/deals", tags=["deals"], dependencies=[KnownQuery], route_class=KeyRoute
)

# A key may hold "/" (the command language allows it): one URL-encoded segment, matched
# on the raw path (key_routes.py), so a key ending in "/history" is read as "...%2Fhistory".
DealKey = Annotated[
    str,
    Path(min_length=1, max_length=400, description="The deal's key, URL-encoded (/ as %2F)."),
]

HistoryKnownAt = Annotated[
    str | None,
    # Unlike a report's K (all recorded), history's defaults to now, as on the command line.
    Query(description="The recording instant K; default now."),
]


def reachable(ctx: ServiceContext, who: Principal, key: str) -> Deal:
    """The deal, if it exists and the caller reaches it; else 404, the same either way.
    The key is read as commands read it (stripped, NFC), so one that names a deal there
    names it here."""
    try:
        key = checked_name(key)
    except ValueError:
        raise Problem(404, "unknown_deal", f"unknown deal {key!r}") from None
    deal = ctx.engine.find(key)
    if deal is None or not who.scope.admits(deal.state.owner, deal.state.team, deal.state.policy):
        raise Problem(404, "unknown_deal", f"unknown deal {key!r}")
    return deal


Filter = Annotated[str | None, Query(max_length=200)]


@router.get(
    "",
    summary="The deals as of T known at K: filters and cursor pages",
    response_model=schemas.DealPage,
    responses=FRESHNESS | problems(401, 403, 422, 503),
)
def deals(
    ctx: Context,
    who: Reader,
    as_of: AsOfQuery = None,
    known_at: KnownAtQuery = None,
    owner: Filter = None,
    team: Filter = None,
    stage: Filter = None,
    status: Annotated[
        Literal["open", "won", "lost", "abandoned"] | None, Query(description="The deal's status.")
    ] = None,
    account: Filter = None,
    policy: Filter = None,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="Text in the deal's key or account."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Deals per page.")] = 100,
    cursor: Annotated[
        str | None, Query(max_length=1000, description="The next_cursor of the page before.")
    ] = None,
) -> JSONResponse:
    """One page of the deals the caller reaches, by key; ``next_cursor`` (null on the
    last page) asks for the next. A cursor keeps working while deals are added."""
    from salesengine.reports.deal_list import DealFilter, DealListError, deal_list

    t, k = instant(as_of, "as_of"), instant(known_at, "known_at")
    kept = DealFilter(
        owner=owner, team=team, stage=stage, status=status, account=account, policy=policy, q=q
    )

    def document(conn: Connection) -> object:
        try:
            page = deal_list(
                conn,
                ctx.policies,
                as_of=t,
                known_at=k,
                where=kept,
                scope=who.scope,
                limit=limit,
                cursor=cursor,
            )
        except DealListError as e:
            raise invalid(e.field, e.message) from None
        return {
            "as_of": t,
            "known_at": k,
            "items": [item.as_dict() for item in page.items],
            "next_cursor": page.next_cursor,
        }

    return fresh(ctx, document)


@router.get(
    "/{key:path}/history",
    summary="The auditor's replay of one deal",
    response_model=schemas.DealHistory,
    responses=problems(401, 403, 404, 422, 503),
)
def history(
    ctx: Context,
    who: HistoryReader,
    key: DealKey,
    as_of: AsOfQuery = None,
    known_at: HistoryKnownAt = None,
) -> JSONResponse:
    """Every event in order with both clocks, its actor and source, and the deal at T as
    known at K (`salesengine history KEY --json`)."""
    t, k = instant(as_of, "as_of"), instant(known_at, "known_at")
    deal = reachable(ctx, who, key)
    h = ctx.engine.history(deal.state.key, t, k)
    return JSONResponse(jsonable(h))


@router.get(
    "/{key:path}",
    summary="One deal as it stands now",
    response_model=schemas.Deal,
    responses=problems(401, 403, 404, 422, 503),
)
def one_deal(ctx: Context, who: Reader, key: DealKey) -> JSONResponse:
    deal = reachable(ctx, who, key)
    return JSONResponse(jsonable(deal.state.as_dict() | {"version": deal.version}))
