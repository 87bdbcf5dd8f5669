"""``/api/v1/reports/anomalies``: lapsed entry criteria, stage-skipping moves, backdated
entries and stale deals, answering what ``salesengine anomalies --json`` prints, over the
caller's deals only: the deals in scope are chosen in the read models' query, and only
their events are read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from salesengine.access.scope_sql import scoped_deal_keys
from salesengine.reports.recorded import earliest_recorded
from salesengine.service import portfolio_schemas
from salesengine.service.answers import fresh
from salesengine.service.auth import Context, Reader
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

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], dependencies=[KnownQuery])


@router.get(
    "/anomalies",
    summary="Anomalies as of T: lapsed criteria, jumps, backdated entries, stale deals",
    response_model=portfolio_schemas.Anomalies,
    responses=FRESHNESS | problems(401, 403, 422, 503),
)
def anomalies(
    ctx: Context,
    who: Reader,
    policy: Policy,
    as_of: AsOfQuery = None,
    known_at: KnownAtQuery = None,
    owner: Annotated[str | None, Query(description="Only the deals of this owner at T.")] = None,
    team: Annotated[str | None, Query(description="Only the deals of this team at T.")] = None,
    backdated_after: Annotated[
        str | None,
        Query(
            description="Days an entry may be recorded after its effective time before it "
            "counts as backdated: DAYS, or DAYS,KIND=DAYS,... per event kind (e.g. "
            "7,visit=14); default 7."
        ),
    ] = None,
    limit: Annotated[
        int | None,
        Query(ge=1, le=100_000, description="List at most N rows of each kind; default all."),
    ] = None,
) -> JSONResponse:
    """As of T known at K (`salesengine anomalies --json`)."""
    from salesengine.reports.anomalies import (
        anomalies as report,
    )
    from salesengine.reports.anomalies import (
        anomalies_document,
        parse_backdated_after,
    )
    from salesengine.reports.open_deals import Only

    thresholds = None
    if backdated_after is not None:
        try:
            thresholds = parse_backdated_after(backdated_after)
        except ValueError as e:
            raise invalid("backdated_after", str(e)) from None
    t, k = now_or(instant(as_of, "as_of")), instant(known_at, "known_at")

    def document(conn: Connection) -> object:
        keys = scoped_deal_keys(conn, who.scope)
        result = report(
            ctx.policies,
            (ctx.engine.deal_events(key) for key in keys),
            as_of=t,
            known_at=k,
            policy=policy,
            only=Only(owner=owner, team=team),
            backdated_after=thresholds,
        )
        return anomalies_document(result, limit, earliest_recorded(conn))

    return fresh(ctx, document)
