"""Reading the store's global notification log, for read models and the relay alike."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Protocol, cast
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper, PersistenceError, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic

from salesengine.domain.deal import Deal, DealEvent
from salesengine.domain.errors import StoreUnavailable
from salesengine.store.codec import OrjsonMapper

Entry = tuple[int, str, DealEvent]  # (position, the deal id as 32 hex digits, event)


class EventStore(Protocol):
    """What the reader needs of an engine: the store's recorder and the engine's mapper."""

    @property
    def recorder(self) -> ApplicationRecorder: ...

    @property
    def mapper(self) -> Mapper[UUID]: ...


# (position, originator id as 32 hex digits, version, topic, state) of one stored event
StoredRow = tuple[int, str, int, str, bytes]


def store_head(engine: EventStore) -> int:
    """The position of the latest event in the log (0 for an empty store)."""
    try:
        return engine.recorder.max_notification_id() or 0
    except (PersistenceError, sqlite3.Error) as e:
        raise StoreUnavailable(f"cannot read the event store: {e}") from None


def stored_rows(
    engine: EventStore, topics: Sequence[str], start: int, stop: int
) -> list[StoredRow]:
    """The stored events of ``topics`` after position ``start`` up to ``stop``, in log
    order, as rows. On SQLite the table is read directly: the library's read makes
    objects per row, and the stored id is already the hex id readers key on."""
    recorder = engine.recorder
    try:
        if isinstance(recorder, SQLiteApplicationRecorder):
            statement = (
                f"SELECT rowid, originator_id, originator_version, topic, state "
                f"FROM {recorder.events_table_name} WHERE rowid>? AND rowid<=? "
                f"AND topic IN ({','.join('?' * len(topics))}) ORDER BY rowid"
            )
            with recorder.datastore.transaction(commit=False) as c:
                c.execute(statement, [start, stop, *topics])
                return cast(list[StoredRow], c.fetchall())
        found = recorder.select_notifications(
            start + 1, limit=stop - start, stop=stop, topics=topics
        )
    except (PersistenceError, sqlite3.Error) as e:
        raise StoreUnavailable(f"cannot read the event store: {e}") from None
    return [(n.id, _hex(n.originator_id), n.originator_version, n.topic, n.state) for n in found]


def _hex(originator_id: UUID | str) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else str(originator_id)


def stored_history(engine: EventStore, originator_id: UUID, version: int) -> list[StoredEvent]:
    """One aggregate's stored events below the given version, in version order."""
    try:
        return list(engine.recorder.select_events(originator_id, lte=version - 1))
    except (PersistenceError, sqlite3.Error) as e:
        raise StoreUnavailable(f"cannot read the event store: {e}") from None


class LogReader:
    """Pages of the log, by position, holding only the given deal event classes."""

    def __init__(self, engine: EventStore, kinds: Iterable[str], *, personal: bool = True) -> None:
        """``personal=False``: events keep their personal data sealed (store.codec), for
        readers that never read it."""
        self.engine = engine
        self.sealed = not personal
        self.topics = sorted({get_topic(getattr(Deal, name)) for name in kinds})
        self._ids: dict[str, UUID] = {}  # deal ids as hex, to their UUIDs

    def head(self) -> int:
        """The position of the latest event in the log (0 for an empty store)."""
        return store_head(self.engine)

    def read(self, start: int, stop: int) -> list[Entry]:
        """The events after position ``start`` up to ``stop``, in log order."""
        rows = stored_rows(self.engine, self.topics, start, stop)
        ids = self._ids
        if len(ids) > 100_000:
            ids.clear()
        mapper = self.engine.mapper
        sealed = self.sealed
        entries: list[Entry] = []
        for position, hex_id, version, topic, state in rows:
            originator_id = ids.get(hex_id)
            if originator_id is None:
                originator_id = ids[hex_id] = UUID(hex_id)
            if isinstance(mapper, OrjsonMapper):
                event = mapper.decode(topic, originator_id, version, state, sealed=sealed)
            else:
                event = mapper.to_domain_event(StoredEvent(originator_id, version, topic, state))
            entries.append((position, hex_id, deal_event(event)))
        return entries

    def _decode(self, mapper: Mapper[UUID], stored: StoredEvent) -> object:
        if isinstance(mapper, OrjsonMapper):
            originator_id = stored.originator_id
            return mapper.decode(
                stored.topic,
                originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id)),
                stored.originator_version,
                stored.state,
                sealed=self.sealed,
            )
        return mapper.to_domain_event(stored)

    def history(self, originator_id: UUID, version: int) -> list[DealEvent]:
        """One deal's events below the given version, in version order."""
        stored = stored_history(self.engine, originator_id, version)
        return [deal_event(self._decode(self.engine.mapper, s)) for s in stored]


def deal_event(event: object) -> DealEvent:
    assert isinstance(event, Deal.Event | Deal.Opened)
    return event
