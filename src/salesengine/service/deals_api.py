"""``/api/v1/deals/...``: one deal now, and the auditor's replay of its history. A deal
out of the caller's scope answers exactly as one that does not exist."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from salesengine.access.principal import Principal
from salesengine.application.json_form import jsonable
from salesengine.domain.deal import Deal
from salesengine.service.auth import Context, HistoryReader, Reader
from salesengine.service.context import ServiceContext
from salesengine.service.params import AsOfQuery, instant
from salesengine.service.problems import Problem

router = APIRouter(prefix="/api/v1/deals", tags=["deals"])

DealKey = Annotated[str, Path(min_length=1, max_length=200, description="The deal's key.")]

HistoryKnownAt = Annotated[
    str | None,
    # Unlike a report's K (all recorded), history's defaults to now, as on the command line.
    Query(description="The recording instant K; default now."),
]


def reachable(ctx: ServiceContext, who: Principal, key: str) -> Deal:
    """The deal, if it exists and the caller reaches it; else 404, the same either way."""
    deal = ctx.engine.find(key)
    if deal is None or not who.scope.admits(deal.state.owner, deal.state.team, deal.state.policy):
        raise Problem(404, "unknown_deal", f"unknown deal {key!r}")
    return deal


@router.get("/{key}", summary="One deal as it stands now")
def one_deal(ctx: Context, who: Reader, key: DealKey) -> JSONResponse:
    deal = reachable(ctx, who, key)
    return JSONResponse(jsonable(deal.state.as_dict() | {"version": deal.version}))


@router.get("/{key}/history", summary="The auditor's replay of one deal")
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
    reachable(ctx, who, key)
    h = ctx.engine.history(key, t, k)
    return JSONResponse(jsonable(h))
