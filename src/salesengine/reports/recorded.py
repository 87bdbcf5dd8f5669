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
from salesengine.reports.connection_memo import memo


def earliest_recorded(conn: Connection) -> datetime | None:
    """When the first event the read models hold was recorded; None for an empty store.

    The points after the sealed blocks only grow until the next block is sealed, so a
    connection keeps their least recorded time and reads only the points added since
    (reports/connection_memo.py): a service asks this with every report."""
    sealed_min, sealed_to = conn.execute(
        select(func.min(blocks.c.min_r), func.max(blocks.c.last_seq))
    ).one()
    tail = memo(conn, "earliest_recorded")
    sealed = (sealed_min, sealed_to)
    if tail.get("sealed") != sealed:
        tail.update(sealed=sealed, seen=sealed_to or 0, least=None)
    newest, least = conn.execute(
        select(func.max(points.c.seq), func.min(points.c.r)).where(points.c.seq > tail["seen"])
    ).one()
    if newest is not None:
        tail["seen"] = int(newest)
        tail["least"] = least if tail["least"] is None else min(tail["least"], least)
    found = [int(r) for r in (sealed_min, tail["least"]) if r is not None]
    return from_us(min(found)) if found else None
