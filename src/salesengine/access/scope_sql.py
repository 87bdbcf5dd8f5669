"""A principal's scope as SQL: the deals it reaches, by their current attributes.

A deal's current attributes are its latest known row of the ``deal_attributes`` read
model: the row still known true (``recorded_to`` null) of its last effective segment
(``valid_to`` null), which is the domain's own state of the deal after all its events.
Every report, list, history and export a service answers for a principal joins this in,
so that a deal out of scope is not counted, listed or found.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, false, func, select, true

from salesengine.access.principal import EVERYTHING, Scope
from salesengine.domain.values import deal_id
from salesengine.projections import deal_attributes

# An alias of its own, so that the subquery's rows are never the report's own, even in
# a report reading deal_attributes: SQLAlchemy would correlate an EXISTS with it.
CURRENT = deal_attributes.table.alias("scope_attributes")


def scoped_deal_ids(scope: Scope) -> Select[Any]:
    """The ids (``deal_id``, 32 hex digits) of the deals in scope."""
    return _current_in_scope(select(CURRENT.c.deal_id), scope)


def _current_in_scope(query: Select[Any], scope: Scope) -> Select[Any]:
    """``query`` over ``CURRENT``, kept to each deal's current row, of the deals in scope."""
    a = CURRENT.c
    query = query.where(a.recorded_to.is_(None), a.valid_to.is_(None))
    if scope.everything:
        return query
    if scope.owner is None and not scope.teams and not scope.policies:
        return query.where(false())
    if scope.owner is not None:
        query = query.where(a.owner == scope.owner)
    if scope.teams:
        query = query.where(a.team.in_(sorted(scope.teams)))
    if scope.policies:
        query = query.where(a.policy.in_(sorted(scope.policies)))
    return query


def in_scope(scope: Scope | None, deal_ids: ColumnElement[Any]) -> ColumnElement[bool]:
    """The condition that keeps the rows whose ``deal_ids`` (a column of deal ids in the
    read models' form) are in scope; ``None`` or a scope over everything keeps all."""
    if scope is None or scope.everything:
        return true()
    return deal_ids.in_(scoped_deal_ids(scope))


def scoped(query: Select[Any], scope: Scope | None, deal_ids: ColumnElement[Any]) -> Select[Any]:
    """``query`` kept to the deals in scope by its column ``deal_ids``; unchanged (the
    same SQL as before scopes existed) for ``None`` or a scope over everything."""
    if scope is None or scope.everything:
        return query
    return query.where(in_scope(scope, deal_ids))


def deal_in_scope(conn: Connection, scope: Scope | None, key: str) -> bool:
    """Whether the deal of ``key`` is one the read models hold and ``scope`` reaches. A
    deal out of scope answers as an unknown key does: both are False here."""
    a = CURRENT.c
    query = scoped_deal_ids(scope or EVERYTHING).where(a.deal_id == deal_id(key).hex)
    return conn.execute(query.limit(1)).first() is not None


def scoped_deal_keys(conn: Connection, scope: Scope | None) -> list[str]:
    """The keys of the deals in scope, in the order they were first recorded (that of
    ``SalesEngine.deal_keys``): for exports kept to a scope. A deal's first row of the
    read model is its opening's, so its least log position is the opening's."""
    a = CURRENT.c
    every = deal_attributes.table.alias("opening_rows")
    opened = (
        select(every.c.deal_id, func.min(every.c.position).label("opened"))
        .group_by(every.c.deal_id)
        .subquery("opened")
    )
    query = select(a.deal).join(opened, opened.c.deal_id == a.deal_id)
    query = _current_in_scope(query, scope or EVERYTHING).order_by(opened.c.opened)
    return [str(r[0]) for r in conn.execute(query)]


def scoped_policies(scope: Scope) -> Select[Any]:
    """The policies (``policy``) of the deals in scope, each once: a default policy is
    chosen among these, so that it says nothing of the deals out of scope."""
    return _current_in_scope(select(CURRENT.c.policy).distinct(), scope)
