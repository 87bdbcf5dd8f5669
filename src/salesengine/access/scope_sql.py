"""A principal's scope as SQL: the deals it reaches, by their current attributes.

A deal's current attributes are its latest known row of the ``deal_attributes`` read
model: the row still known true (``recorded_to`` null) of its last effective segment
(``valid_to`` null), which is the domain's own state of the deal after all its events.
Every report, list, history and export a service answers for a principal joins this in,
so that a deal out of scope is not counted, listed or found.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, false, select, true

from salesengine.access.principal import Scope
from salesengine.projections import deal_attributes

# An alias of its own, so that the subquery's rows are never the report's own, even in
# a report reading deal_attributes: SQLAlchemy would correlate an EXISTS with it.
CURRENT = deal_attributes.table.alias("scope_attributes")


def scoped_deal_ids(scope: Scope) -> Select[Any]:
    """The ids (``deal_id``, 32 hex digits) of the deals in scope."""
    a = CURRENT.c
    query = select(a.deal_id).where(a.recorded_to.is_(None), a.valid_to.is_(None))
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
