"""Reading the store's global notification log, for read models and the relay alike."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
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


class LogReader:
    """Pages of the log, by position, holding only the given deal event classes."""

    def __init__(self, engine: EventStore, kinds: Iterable[str], *, personal: bool = True) -> None:
        """``personal=False``: events keep their personal data sealed (store.codec), for
        readers that never read it."""
        self.engine = engine
        self.sealed = not personal
        self.topics = sorted({get_topic(getattr(Deal, name)) for name in kinds})
        self._ids: dict[str, UUID] = {}  # deal ids as stored, to their UUIDs

    def head(self) -> int:
        """The position of the latest event in the log (0 for an empty store)."""
        try:
            return self.engine.recorder.max_notification_id() or 0
        except (PersistenceError, sqlite3.Error) as e:
            raise StoreUnavailable(f"cannot read the event store: {e}") from None

    def read(self, start: int, stop: int) -> list[Entry]:
        """The events after position ``start`` up to ``stop``, in log order."""
        recorder = self.engine.recorder
        mapper = self.engine.mapper
        try:
            if isinstance(recorder, SQLiteApplicationRecorder) and isinstance(mapper, OrjsonMapper):
                return self._read_sqlite(recorder, mapper, start, stop)
            notifications = recorder.select_notifications(
                start + 1, limit=stop - start, stop=stop, topics=self.topics
            )
        except (PersistenceError, sqlite3.Error) as e:
            raise StoreUnavailable(f"cannot read the event store: {e}") from None
        entries = []
        for n in notifications:
            event = deal_event(self._decode(mapper, n))
            entries.append((n.id, event.originator_id.hex, event))
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
        try:
            stored = self.engine.recorder.select_events(originator_id, lte=version - 1)
        except (PersistenceError, sqlite3.Error) as e:
            raise StoreUnavailable(f"cannot read the event store: {e}") from None
        return [deal_event(self._decode(self.engine.mapper, s)) for s in stored]

    def _read_sqlite(
        self, recorder: SQLiteApplicationRecorder, mapper: OrjsonMapper, start: int, stop: int
    ) -> list[Entry]:
        """The library's read, less its per-row objects: the stored originator id is
        already the deal id readers key on, and its UUID is made once per deal."""
        statement = (
            f"SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {recorder.events_table_name} WHERE rowid>? AND rowid<=? "
            f"AND topic IN ({','.join('?' * len(self.topics))}) ORDER BY rowid"
        )
        with recorder.datastore.transaction(commit=False) as c:
            c.execute(statement, [start, stop, *self.topics])
            rows = c.fetchall()
        ids = self._ids
        if len(ids) > 100_000:
            ids.clear()
        decode = mapper.decode
        sealed = self.sealed
        entries: list[Entry] = []
        for position, hex_id, version, topic, state in rows:
            originator_id = ids.get(hex_id)
            if originator_id is None:
                originator_id = ids[hex_id] = UUID(hex_id)
            # The topics asked for are the deal's own event classes.
            event = cast(DealEvent, decode(topic, originator_id, version, state, sealed=sealed))
            entries.append((position, hex_id, event))
        return entries


def deal_event(event: object) -> DealEvent:
    assert isinstance(event, Deal.Event | Deal.Opened)
    return event
