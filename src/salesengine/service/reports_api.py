"""``/api/v1/reports/...``: the command line's reports, each answering the same document
as its ``--json`` (reports/documents.py), over the caller's deals only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from salesengine.reports.documents import rows_document
from salesengine.reports.recorded import earliest_recorded
from salesengine.service.answers import fresh
from salesengine.service.auth import Context, Reader
from salesengine.service.params import (
    AsOfQuery,
    BandsQuery,
    ByQuery,
    KnownAtQuery,
    Policy,
    instant,
    invalid,
    now_or,
    size_bands,
)

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


@router.get("/funnel", summary="The funnel as of T, known at K")
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


@router.get("/compare", summary="The moves between T and T2")
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
    t2 = instant(to, "to")
    assert t2 is not None
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
