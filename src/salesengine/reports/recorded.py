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
from salesengine.projections.funnel_points import blocks, points


def earliest_recorded(conn: Connection) -> datetime | None:
    """When the first event the read models hold was recorded; None for an empty store."""
    sealed_min, sealed_to = conn.execute(
        select(func.min(blocks.c.min_r), func.max(blocks.c.last_seq))
    ).one()
    tail = conn.execute(
        select(func.min(points.c.r)).where(points.c.seq > (sealed_to or 0))
    ).scalar()
    found = [int(r) for r in (sealed_min, tail) if r is not None]
    return from_us(min(found)) if found else None
