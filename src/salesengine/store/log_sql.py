"""The notification log as SQL on the store's own database, for reads that join it to
the read models: the change feed, kept to a principal's deals in the query itself.

The events table is the library's (``stored_events`` on SQLite, ``salesengine_events``
on PostgreSQL). A row's log position is SQLite's ``rowid`` and PostgreSQL's
``notification_id``; its deal id is stored as 32 hex digits on SQLite and as a
``uuid`` on PostgreSQL, while the read models key deals by the 32 hex digits: a set of
deal ids from the read models is cast to ``uuid`` on PostgreSQL, so the log is searched
by its own primary key and not by a conversion of every row.

Positions are assigned in commit order, so a reader that has seen position n has seen
every event at or below it that will ever be: SQLite has one writer at a time, and the
PostgreSQL recorder locks the events table (EXCLUSIVE) from its inserts to its commit.
A position left unused by a rolled-back write is a gap that is never filled.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from sqlalchemy import Connection, Select, TableClause, cast, column, func, select, table
from sqlalchemy.dialects.postgresql import UUID as PgUUID

from salesengine.domain.deal import DealEvent
from salesengine.store.notification_log import Entry, EventStore, deal_event


def events_table(store: EventStore) -> tuple[TableClause, str]:
    """The events table as SQL, and the name of its position column."""
    recorder: Any = store.recorder
    position = "rowid" if _is_sqlite(store) else "notification_id"
    schema = None if _is_sqlite(store) else recorder.datastore.schema or None
    events = table(
        recorder.events_table_name,
        column(position),
        column("originator_id"),
        column("originator_version"),
        column("topic"),
        column("state"),
        schema=schema,
    )
    return events, position


def log_head(conn: Connection, store: EventStore) -> int:
    """The position of the latest event in the log (0 for an empty log)."""
    events, position = events_table(store)
    found = conn.execute(select(func.max(events.c[position]))).scalar()
    return int(found or 0)


def read_log(
    conn: Connection,
    store: EventStore,
    topics: list[str],
    *,
    after: int,
    stop: int,
    limit: int,
    deal_ids: Select[Any] | None,
) -> list[Entry]:
    """At most ``limit`` events after position ``after`` up to ``stop``, in log order,
    of the given topics and, when ``deal_ids`` is given (a query of one column: deal ids
    as the read models hold them, 32 hex digits), only of those deals."""
    events, position = events_table(store)
    e = events.c
    query = (
        select(e[position], e.originator_id, e.originator_version, e.topic, e.state)
        .where(e[position] > after, e[position] <= stop, e.topic.in_(topics))
        .order_by(e[position])
        .limit(limit)
    )
    if deal_ids is not None:
        if not _is_sqlite(store):
            ids = deal_ids.subquery("scoped_ids")
            deal_ids = select(cast(ids.c[0], PgUUID(as_uuid=True)))
        query = query.where(e.originator_id.in_(deal_ids))
    mapper = store.mapper
    entries: list[Entry] = []
    for at, stored_id, version, topic, state in conn.execute(query):
        originator_id = stored_id if isinstance(stored_id, UUID) else UUID(stored_id)
        event: DealEvent = deal_event(
            mapper.to_domain_event(StoredEvent(originator_id, version, topic, bytes(state)))
        )
        entries.append((int(at), originator_id.hex, event))
    return entries


def _is_sqlite(store: EventStore) -> bool:
    from eventsourcing.sqlite import SQLiteApplicationRecorder

    return isinstance(store.recorder, SQLiteApplicationRecorder)
