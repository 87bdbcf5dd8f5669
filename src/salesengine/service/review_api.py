"""``/api/v1/reports/review``: the case review (案情追踪) a manager runs in a weekly
one-to-one, the document of ``salesengine review --json``, over the caller's deals and
accounts (docs/review.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from salesengine.application.accounts import Accounts
from salesengine.reports.recorded import ACCOUNTS, earliest_recorded
from salesengine.service import account_schemas as schemas
from salesengine.service.answers import fresh
from salesengine.service.auth import Context, Reader
from salesengine.service.openapi import FRESHNESS, problems
from salesengine.service.params import AsOfQuery, KnownAtQuery, KnownQuery, instant, now_or

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], dependencies=[KnownQuery])


@router.get(
    "/review",
    summary="The case review pack as of T, known at K",
    response_model=schemas.Review,
    responses=FRESHNESS | problems(401, 403, 422, 503),
)
def review(
    ctx: Context,
    who: Reader,
    as_of: AsOfQuery = None,
    known_at: KnownAtQuery = None,
    owner: Annotated[
        str | None, Query(max_length=200, description="Only the deals this owner holds at T.")
    ] = None,
    team: Annotated[
        str | None, Query(max_length=200, description="Only the deals of this team at T.")
    ] = None,
    period: Annotated[
        Literal["week", "month", "quarter"],
        Query(description="The period of the prospecting figures: the one holding T."),
    ] = "week",
    sample: Annotated[
        int, Query(ge=0, le=1000, description="C and D deals sampled, per grade.")
    ] = 3,
    seed: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="The sample's seed (any text); default T's ISO week, e.g. 2026-W10.",
        ),
    ] = None,
) -> JSONResponse:
    """A deals in full, B deals and what they wait on, a seeded sample of C and D deals,
    overdue contacts and the period's prospecting figures (`salesengine review --json`)."""
    from salesengine.reports.accounts_review import review_account_figures
    from salesengine.reports.open_deals import Only
    from salesengine.reports.review import review as report
    from salesengine.reports.review import review_document

    t, k = now_or(instant(as_of, "as_of")), instant(known_at, "known_at")
    figures = review_account_figures(Accounts(ctx.engine), ctx.policies, who.scope)

    def document(conn: Connection) -> object:
        result = report(
            conn,
            ctx.policies,
            ctx.engine.deal_events,
            as_of=t,
            known_at=k,
            only=Only(owner=owner, team=team),
            period=period,
            sample=sample,
            seed=seed,
            scope=who.scope,
            account_figures=figures,
        )
        return review_document(result, earliest_recorded(conn, ctx.engine, ACCOUNTS))

    return fresh(ctx, document)
