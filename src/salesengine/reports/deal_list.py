"""The deal list as of T, known at K (docs/metrics.md, "Deal list as of T"): one row per
deal with where it stands and its attributes, filtered, kept to a scope, and paged by
key.

Pages are keyset pages: a page is the deals with a key after the cursor (the last key
of the page before), ``limit`` of them in key order, so a page costs the same however
far in it is, and deals added between two pages neither shift nor repeat any.
Whether one deal is in a scope, for the answer to a deal asked for by key, is
``access.scope_sql.deal_in_scope``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, get_args

from sqlalchemy import ColumnElement, Connection, Select, func, or_, select

from salesengine.access.principal import Scope
from salesengine.access.scope_sql import scoped
from salesengine.domain.policy import FunnelPolicy
from salesengine.domain.values import OUTCOMES
from salesengine.projections.base import from_units, from_us
from salesengine.reports.common import holds_at, known
from salesengine.reports.funnel import ATTRIBUTES, INTERVALS

DealStatus = Literal["open", "won", "lost", "abandoned"]
STATUSES: tuple[DealStatus, ...] = get_args(DealStatus)
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
ListField = Literal["limit", "cursor", "status", "q"]


class DealListError(ValueError):
    """A deal list asked for with a bad parameter; ``field`` names it."""

    def __init__(self, field: ListField, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class DealListItem:
    key: str
    policy: str
    stage: str  # a stage key while open, else the outcome
    status: DealStatus
    owner: str | None
    team: str | None
    region: str | None
    account: str | None
    amount: Decimal | None
    currency: str | None
    expected_close: date | None
    stage_entered_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "policy": self.policy,
            "stage": self.stage,
            "status": self.status,
            "owner": self.owner,
            "team": self.team,
            "region": self.region,
            "account": self.account,
            "amount": self.amount,
            "currency": self.currency,
            "expected_close": self.expected_close,
            "stage_entered_at": self.stage_entered_at,
        }


@dataclass(frozen=True, slots=True)
class DealPage:
    items: list[DealListItem]
    next_cursor: str | None  # None: the last page


@dataclass(frozen=True, slots=True)
class DealFilter:
    """What a deal list keeps, each ``None`` for any value (docs/metrics.md)."""

    owner: str | None = None
    team: str | None = None
    stage: str | None = None
    status: str | None = None
    account: str | None = None
    policy: str | None = None
    q: str | None = None


def encode_cursor(key: str) -> str:
    """The opaque cursor after ``key``: its UTF-8 in base64url, without padding."""
    return base64.urlsafe_b64encode(key.encode()).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The key a cursor stands for; DealListError (field ``cursor``) if it is none."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = raw.decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise DealListError("cursor", "not a cursor this list gave") from None
    if not key or encode_cursor(key) != cursor:
        raise DealListError("cursor", "not a cursor this list gave")
    return key


def deal_list(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    *,
    as_of: datetime | None = None,
    known_at: datetime | None = None,
    where: DealFilter | None = None,
    scope: Scope | None = None,
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> DealPage:
    """One page of the deals at T (None: each deal's latest) known at K (None: all
    recorded) that ``where`` keeps, of ``scope`` (None: every deal), by key after the
    ``cursor``. ``policies`` give the currency of a deal without one."""
    where = where or DealFilter()
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise DealListError("limit", f"{limit!r} is not a whole number from 1 to {MAX_LIMIT}")
    if where.status is not None and where.status not in STATUSES:
        raise DealListError("status", f"{where.status!r} is not one of {', '.join(STATUSES)}")
    if where.q is not None and not where.q.strip():
        raise DealListError("q", "give some text to search for")
    after = None if cursor is None else decode_cursor(cursor)

    i, a = INTERVALS.c, ATTRIBUTES.c
    holding: list[ColumnElement[bool]]
    if as_of is None:
        holding = [i.exited_at.is_(None), a.valid_to.is_(None)]
    else:
        holding = [
            holds_at(i.entered_at, i.exited_at, as_of),
            holds_at(a.valid_from, a.valid_to, as_of),
        ]
    query: Select[Any] = (
        select(
            a.deal,
            i.policy,
            i.stage,
            i.entered_at,
            a.owner,
            a.team,
            a.region,
            a.account,
            a.amount,
            a.currency,
            a.expected_close,
        )
        .select_from(INTERVALS.join(ATTRIBUTES, a.deal_id == i.deal_id))
        .where(*holding, known(INTERVALS, known_at), known(ATTRIBUTES, known_at))
    )
    for column, value in (
        (a.owner, where.owner),
        (a.team, where.team),
        (i.stage, where.stage),
        (a.account, where.account),
        (i.policy, where.policy),
    ):
        if value is not None:
            query = query.where(column == value)
    if where.status == "open":
        query = query.where(i.stage.not_in(OUTCOMES))
    elif where.status is not None:
        query = query.where(i.stage == where.status)
    if where.q is not None:
        query = query.where(or_(_contains(a.deal, where.q), _contains(a.account, where.q)))
    query = scoped(query, scope, i.deal_id)
    if after is not None:
        query = query.where(a.deal > after)
    # One row more than the page tells whether there is a next one.
    rows = list(conn.execute(query.order_by(a.deal).limit(limit + 1)))
    items = [_item(r, policies) for r in rows[:limit]]
    more = len(rows) > limit
    return DealPage(items, encode_cursor(items[-1].key) if more else None)


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    """``text`` within the column, letters without case (SQLite: ASCII letters only)."""
    return func.lower(column).contains(text.lower(), autoescape=True)


def _item(r: Any, policies: Mapping[str, FunnelPolicy]) -> DealListItem:
    stage = str(r.stage)
    status: DealStatus = "open"
    for outcome in STATUSES:
        if stage == outcome:
            status = outcome
    spec = policies.get(r.policy)
    return DealListItem(
        key=str(r.deal),
        policy=str(r.policy),
        stage=stage,
        status=status,
        owner=r.owner,
        team=r.team,
        region=r.region,
        account=r.account,
        amount=None if r.amount is None else from_units(int(r.amount)),
        currency=r.currency or (None if spec is None else spec.currency),
        expected_close=None if r.expected_close is None else date.fromisoformat(r.expected_close),
        stage_entered_at=from_us(int(r.entered_at)),
    )
