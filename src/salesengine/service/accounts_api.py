"""``/api/v1/accounts/...`` and ``/api/v1/reports/coverage``: the accounts as of T known
at K, each answering the document of ``salesengine account ... --json``, kept to the
accounts the caller reaches (``reports.account_scope``). An account out of scope answers
exactly as one that does not exist; its deals, visits and grade are the caller's deals'."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from salesengine.access.principal import Principal
from salesengine.application.accounts import Accounts
from salesengine.application.names import checked_name
from salesengine.domain.account import UnknownAccount
from salesengine.reports.account_scope import reachable_accounts
from salesengine.reports.accounts import AccountFilter, AccountView, account_view, account_views
from salesengine.reports.recorded import ACCOUNTS, earliest_recorded
from salesengine.service import account_schemas as schemas
from salesengine.service.answers import fresh
from salesengine.service.auth import Context, HistoryReader, Reader
from salesengine.service.context import ServiceContext
from salesengine.service.key_routes import KeyRoute
from salesengine.service.openapi import FRESHNESS, problems
from salesengine.service.params import AsOfQuery, KnownAtQuery, KnownQuery, instant, invalid, now_or
from salesengine.service.problems import Problem

router = APIRouter(
    prefix="/api/v1/accounts", tags=["accounts"], dependencies=[KnownQuery], route_class=KeyRoute
)
reports = APIRouter(prefix="/api/v1/reports", tags=["reports"], dependencies=[KnownQuery])

ANSWERS = FRESHNESS | problems(401, 403, 422, 503)
ONE = FRESHNESS | problems(401, 403, 404, 422, 503)

# A key may hold "/" (as a deal's may): one URL-encoded segment, matched on the raw path
# (key_routes.py), so a key ending in "/history" or "/chain" is read with "%2F" for "/".
AccountKey = Annotated[
    str,
    Path(min_length=1, max_length=400, description="The account's key, URL-encoded (/ as %2F)."),
]
Filter = Annotated[str | None, Query(max_length=200)]
OwnerQuery = Annotated[
    str | None, Query(max_length=200, description="Only accounts this rep owns at T.")
]
TeamQuery = Annotated[
    str | None, Query(max_length=200, description="Only accounts of this team at T.")
]
RegionQuery = Annotated[
    str | None, Query(max_length=200, description="Only accounts of this region at T.")
]


def unknown(key: str) -> Problem:
    """What an unknown account and one out of the caller's scope both answer."""
    return Problem(404, "unknown_account", f"unknown account {key!r}")


def _key(key: str) -> str:
    """The key as commands read it (stripped, NFC); one they could not name is unknown."""
    try:
        return checked_name(key)
    except ValueError:
        raise unknown(key) from None


def _header(
    ctx: ServiceContext, conn: Connection, t: datetime, k: datetime | None
) -> dict[str, Any]:
    earliest = earliest_recorded(conn, ctx.engine, ACCOUNTS)  # the accounts' events too
    return {"as_of": t, "known_at": k, "earliest_recorded": earliest}


def views(
    ctx: ServiceContext, who: Principal, conn: Connection, t: datetime, k: datetime | None
) -> list[AccountView]:
    """The accounts the caller reaches at T known at K: only theirs are folded."""
    keys = reachable_accounts(conn, ctx.engine, who.scope)
    return account_views(
        conn, Accounts(ctx.engine), as_of=t, known_at=k, policies=ctx.policies,
        keys=keys, scope=who.scope,
    )  # fmt: skip


def one(
    ctx: ServiceContext,
    who: Principal,
    conn: Connection,
    key: str,
    t: datetime,
    k: datetime | None,
) -> AccountView:
    keys = reachable_accounts(conn, ctx.engine, who.scope)
    try:
        return account_view(
            conn, Accounts(ctx.engine), key, as_of=t, known_at=k, policies=ctx.policies,
            keys=keys, scope=who.scope,
        )  # fmt: skip
    except UnknownAccount as e:
        # The same words whether the key is unknown or out of scope: the report's own.
        raise Problem(404, "unknown_account", e.message) from None


@router.get(
    "",
    summary="The accounts as of T known at K, with grade, RAD cell and last contact",
    response_model=schemas.AccountList,
    responses=ANSWERS,
)
def accounts(
    ctx: Context,
    who: Reader,
    as_of: AsOfQuery = None,
    known_at: KnownAtQuery = None,
    owner: OwnerQuery = None,
    team: TeamQuery = None,
    region: RegionQuery = None,
    grade: Annotated[
        Literal["A", "B", "C", "D"] | None, Query(description="Only this grade.")
    ] = None,
    rad: Annotated[
        str | None, Query(description="Only this RAD cell, R1 .. A3.", max_length=64)
    ] = None,
) -> JSONResponse:
    """The accounts the caller reaches (`salesengine account list --json`)."""
    from salesengine.domain.account_state import rad_refusal
    from salesengine.reports.account_documents import account_summary

    why = None if rad is None else rad_refusal(rad)
    if why is not None:
        raise invalid("rad", why)
    t, k = now_or(instant(as_of, "as_of")), instant(known_at, "known_at")
    keep = AccountFilter(owner, team, region, grade, rad)

    def document(conn: Connection) -> object:
        rows = [account_summary(v) for v in views(ctx, who, conn, t, k) if keep.keeps(v)]
        return _header(ctx, conn, t, k) | {"accounts": rows}

    return fresh(ctx, document)


@reports.get(
    "/coverage",
    summary="Coverage (SOA) per rep and grade",
    response_model=schemas.Coverage,
    responses=ANSWERS,
)
def coverage(
    ctx: Context,
    who: Reader,
    as_of: AsOfQuery = None,
    known_at: KnownAtQuery = None,
    owner: OwnerQuery = None,
    team: TeamQuery = None,
    region: RegionQuery = None,
) -> JSONResponse:
    """Accounts with a named owner and a contact within the grade's cadence, those never
    contacted and those overdue, over the caller's accounts
    (`salesengine account coverage --json`)."""
    from salesengine.reports.accounts import coverage as soa

    t, k = now_or(instant(as_of, "as_of")), instant(known_at, "known_at")
    keep = AccountFilter(owner, team, region)

    def document(conn: Connection) -> object:
        kept = [v for v in views(ctx, who, conn, t, k) if keep.keeps(v)]
        return _header(ctx, conn, t, k) | {"coverage": soa(kept, as_of=t, known_at=k)}

    return fresh(ctx, document)


def _one_document(
    ctx: ServiceContext,
    who: Principal,
    key: str,
    as_of: str | None,
    known_at: str | None,
    shape: Callable[[AccountView, datetime, datetime | None], dict[str, Any]],
) -> JSONResponse:
    t, k = now_or(instant(as_of, "as_of")), instant(known_at, "known_at")
    name = _key(key)

    def document(conn: Connection) -> object:
        return _header(ctx, conn, t, k) | shape(one(ctx, who, conn, name, t, k), t, k)

    return fresh(ctx, document)


@router.get(
    "/{key:path}/chain",
    summary="An account's decision chain as of T known at K",
    response_model=schemas.AccountChain,
    responses=ONE,
)
def chain(
    ctx: Context,
    who: Reader,
    key: AccountKey,
    as_of: AsOfQuery = None,
    known_at: KnownAtQuery = None,
) -> JSONResponse:
    """Its present contacts as an org chart with their roles and support, who plays each
    role, and who had left (`salesengine account chain --json`)."""
    from salesengine.reports.decision_chain import decision_chain

    return _one_document(
        ctx, who, key, as_of, known_at, lambda v, t, k: {"chain": decision_chain(v, k, t)}
    )


@router.get(
    "/{key:path}/history",
    summary="Every event of an account, with both clocks",
    response_model=schemas.AccountHistory,
    responses=ONE,
)
def history(
    ctx: Context,
    who: HistoryReader,
    key: AccountKey,
    as_of: AsOfQuery = None,
    known_at: KnownAtQuery = None,
) -> JSONResponse:
    """The events recorded by K in timeline order, those effective after T marked
    (`salesengine account history --json`)."""
    from salesengine.reports.account_documents import history_rows

    t, k = now_or(instant(as_of, "as_of")), instant(known_at, "known_at")
    name = _key(key)

    def document(conn: Connection) -> object:
        keys = reachable_accounts(conn, ctx.engine, who.scope)
        if keys is not None and name not in keys:
            raise unknown(name)
        try:
            events = Accounts(ctx.engine).events(name)
        except UnknownAccount:
            raise unknown(name) from None
        return {"account": name, "as_of": t, "known_at": k, "events": history_rows(events, t, k)}

    return fresh(ctx, document)


@router.get(
    "/{key:path}",
    summary="One account as of T known at K",
    response_model=schemas.AccountShow,
    responses=ONE,
)
def show(
    ctx: Context,
    who: Reader,
    key: AccountKey,
    as_of: AsOfQuery = None,
    known_at: KnownAtQuery = None,
) -> JSONResponse:
    """Its fields, RAD cell, grade and cadence, contacts, activities (the latest first)
    and the caller's deals naming it (`salesengine account show --json`)."""
    return _one_document(ctx, who, key, as_of, known_at, lambda v, _t, _k: {"account": v})
