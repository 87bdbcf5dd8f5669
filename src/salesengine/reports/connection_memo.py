"""What a report keeps on a pooled database connection from one call to the next.

A service answers the same reports over and over on a few pooled connections. Some of
what a report reads never changes once written (a sealed block of funnel points) or only
grows (the points after it): kept in the connection's ``info`` (SQLAlchemy's dictionary
of the DBAPI connection, which lives as long as the connection in the pool), such a part
is read once per connection instead of once per call. Each memo is keyed by what it was
read from, so a rebuilt read model is read afresh."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

_PREFIX = "salesengine.memo."


def memo(conn: Connection, name: str) -> dict[Any, Any]:
    """The connection's memo called ``name`` (empty the first time)."""
    found: dict[Any, Any] = conn.info.setdefault(_PREFIX + name, {})
    return found
