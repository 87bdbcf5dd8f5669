"""The earliest recorded instant of the store, read from the read models.

A deal's first event is its opening and its recorded times never decrease, so the
store's earliest recorded instant is its earliest opening's, and each opening is a
funnel point (``funnel_points``) recorded then. The sealed blocks keep the least
recorded time of their points, so this reads one row per block and the open tail.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from salesengine.projections.base import from_us
from salesengine.projections.funnel_points import blocks
from salesengine.reports.open_points import open_points


def earliest_recorded(conn: Connection) -> datetime | None:
    """When the first event the read models hold was recorded; None for an empty store.
    The points after the sealed blocks are those the connection keeps (open_points.py):
    a service asks this with every report."""
    sealed_min = conn.execute(select(func.min(blocks.c.min_r))).scalar()
    tail = open_points(conn).least_recorded()
    found = [int(r) for r in (sealed_min, tail) if r is not None]
    return from_us(min(found)) if found else None
