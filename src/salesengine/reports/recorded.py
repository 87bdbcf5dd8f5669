"""The earliest recorded instant of the events a report reads: of the deals, read from
the read models, and of the account or quota streams the report reads too.

A deal's first event is its opening and its recorded times never decrease, so the
store's earliest recorded instant is its earliest opening's, and each opening is a
funnel point (``funnel_points``) recorded then. The sealed blocks keep the least
recorded time of their points, so this reads one row per block and the open tail.

An account's or a quota stream's first event is its opening too, so the earliest of
those is that of their openings: read by topic from the event store's own table (on the
read models' database, as the change feed reads it), each opening once per connection,
as its log position only grows. Without them an account report at a K after the first
account but before the first deal said that nothing was known at K.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from sqlalchemy import Connection, func, select

from salesengine.domain.account import Account
from salesengine.domain.quota import Quota
from salesengine.projections.base import from_us
from salesengine.projections.funnel_points import blocks, points
from salesengine.reports.connection_memo import memo
from salesengine.store.log_sql import events_table
from salesengine.store.notification_log import EventStore

# The openings of the streams a report may read besides the deals'.
ACCOUNTS = (get_topic(Account.Opened),)
QUOTAS = (get_topic(Quota.Opened),)


def earliest_recorded(
    conn: Connection,
    store: EventStore | None = None,
    openings: Sequence[str] = (),
    *,
    deals: bool = True,
) -> datetime | None:
    """When the first event the report reads was recorded (None: it reads none): a
    deal's (unless ``deals`` is false) and, with ``store``, the first of the streams
    opened by ``openings`` (``ACCOUNTS``, ``QUOTAS``)."""
    found = [earliest_deal_recorded(conn)] if deals else []
    if store is not None:
        found += [_earliest_opening(conn, store, topic) for topic in openings]
    known = [f for f in found if f is not None]
    return min(known) if known else None


def earliest_deal_recorded(conn: Connection) -> datetime | None:
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


def _earliest_opening(conn: Connection, store: EventStore, topic: str) -> datetime | None:
    """When the first stream opened by a ``topic`` event was opened; the openings after
    the last one this connection read are read (an indexed range of the log)."""
    events, position = events_table(store)
    e = events.c
    seen = memo(conn, f"earliest_opening.{events.name}.{topic}")
    query = (
        select(e[position], e.originator_id, e.originator_version, e.state)
        .where(e.topic == topic, e[position] > seen.get("position", 0))
        .order_by(e[position])
    )
    for at, stored_id, version, state in conn.execute(query):
        originator_id = stored_id if isinstance(stored_id, UUID) else UUID(stored_id)
        stored = StoredEvent(originator_id, version, topic, bytes(state))
        opened: Any = store.mapper.to_domain_event(stored)
        recorded: datetime = opened.timestamp
        least = seen.get("least")
        seen.update(position=int(at), least=recorded if least is None else min(least, recorded))
    found: datetime | None = seen.get("least")
    return found
