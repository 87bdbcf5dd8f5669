"""The private parts of eventsourcing the project relies on, pinned.

Each test states one behaviour that ``salesengine.domain.eventsourcing_seam`` (or the
PostgreSQL recorder's hook) takes for granted, checked against the library's own public
path where it has one. A new version of the library that changes any of them fails
here first; the pin in pyproject.toml moves only once this file passes.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Recording
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic

from salesengine.domain.deal import Deal
from salesengine.domain.eventsourcing_seam import (
    append_new_event,
    blank_event,
    create_aggregate,
    save_aggregates,
)
from salesengine.domain.policy import KeptVersion
from salesengine.domain.values import Stamp, deal_id
from salesengine.policies.catalog import PolicyCatalog
from salesengine.store.settings import store_settings
from salesengine.store.sqlite_recorder import BatchSQLiteRecorder
from tests.support.clock import T0
from tests.support.commands import FIVE_LEVEL_OPENING
from tests.support.services import PG_URL


class Note(Aggregate):
    """An aggregate declared the library's way, to compare the seam with."""

    # Made by the @event decorator below when the class is defined, a dataclass whose
    # __init__ takes the method's arguments: a type checker sees neither.
    Edited: ClassVar[type[Any]]

    @event("Created")
    def __init__(self, text: str) -> None:
        self.text = text

    @event("Edited")
    def edit(self, text: str) -> None:
        self.text = text


def filled(cls: type[Any], attributes: dict[str, Any]) -> Any:
    made = blank_event(cls)
    made.__dict__.update(attributes)
    return made


def test_an_event_made_blank_and_filled_is_the_one_its_init_makes() -> None:
    built = Note.Edited(originator_id=uuid4(), originator_version=2, timestamp=T0, text="b")
    made = filled(Note.Edited, dict(vars(built)))
    assert type(made) is Note.Edited and made == built and vars(made) == vars(built)
    as_the_codec_does = blank_event(Note.Edited)
    object.__setattr__(as_the_codec_does, "__dict__", dict(vars(built)))
    assert as_the_codec_does == built
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.text = "c"
    # The deal's events: their state is their __dict__, and exactly their __init__'s fields.
    guard = PolicyCatalog().guard("five-level")
    stamp = Stamp(T0, T0 + timedelta(days=1), "rep", "c-1")
    deal = Deal.open(id=deal_id("S"), key="S", guard=guard, stamp=stamp, facts=FIVE_LEVEL_OPENING)
    deal.log_visit("phone", True, ["rep"], None, stamp)
    deal.change_owner("Li Wei", None, None, stamp)
    for pending in deal.collect_events():
        assert type(pending)(**vars(pending)) == pending


def test_an_absorbed_event_appended_leaves_the_aggregate_as_trigger_event_does() -> None:
    note_id, later = uuid4(), T0 + timedelta(hours=1)
    by_library = create_aggregate(Note, Note.Created, id=note_id, timestamp=T0, text="a")
    by_seam = create_aggregate(Note, Note.Created, id=note_id, timestamp=T0, text="a")
    by_library.trigger_event(Note.Edited, text="b", timestamp=later)
    edited = filled(
        Note.Edited,
        {"originator_id": note_id, "originator_version": 2, "timestamp": later, "text": "b"},
    )
    edited.apply(by_seam)  # what the aggregate's own absorbing does
    append_new_event(by_seam, edited, later)
    assert by_seam == by_library  # every attribute, the pending events among them
    assert (by_seam.version, by_seam.modified_on) == (2, later)
    assert by_seam.pending_events[-1] is edited
    assert by_seam.collect_events()[-1] is edited
    assert by_seam.pending_events == []


def test_an_aggregate_created_through_the_seam_is_the_one_the_library_creates() -> None:
    note_id = uuid4()
    note = create_aggregate(Note, Note.Created, id=note_id, timestamp=T0, text="a")
    public = Note("a")
    assert type(note) is Note and note.text == public.text == "a"
    assert (note.id, note.version, note.created_on, note.modified_on) == (note_id, 1, T0, T0)
    (created,) = note.pending_events
    assert type(created) is Note.Created and created.originator_topic == get_topic(Note)
    assert [type(e) for e in public.pending_events] == [Note.Created]


class Recorded(Application[UUID]):
    """An application that records what the library's notification hook is given."""

    snapshotting_intervals = {Note: 2}  # noqa: RUF012 - the library's class setting

    def __init__(self, env: dict[str, str]) -> None:
        self.notified: list[Recording[UUID]] = []
        super().__init__(env=env)

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        self.notified.extend(recordings)


def test_aggregates_saved_through_the_seam_are_recorded_snapshotted_and_notified() -> None:
    app = Recorded({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"})
    note, other = Note("a"), Note("x")
    note.edit("b")
    recordings = save_aggregates(app, [note, other])
    saved = [(r.domain_event.originator_id, r.domain_event.originator_version) for r in recordings]
    assert saved == [(note.id, 1), (note.id, 2), (other.id, 1)]
    assert app.notified == recordings
    assert note.pending_events == [] and other.pending_events == []
    stored: Note = app.repository.get(note.id)
    assert isinstance(stored, Note) and (stored.text, stored.version) == ("b", 2)
    assert app.snapshots is not None
    assert [s.originator_version for s in app.snapshots.get(note.id)] == [2]
    app.close()


def test_the_keywords_of_a_save_through_the_seam_reach_the_recorder() -> None:
    app = Application[UUID](
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": ":memory:",
            "APPLICATION_RECORDER_TOPIC": get_topic(BatchSQLiteRecorder),
        }
    )
    note = Note("a")
    kept = KeptVersion.of(PolicyCatalog().get("funnel-list"), T0)
    save_aggregates(app, [note], policy_versions=[kept])
    recorder: Any = app.recorder
    assert recorder.kept_policy_versions() == [kept]
    assert [e.originator_version for e in app.recorder.select_events(note.id)] == [1]
    app.close()


def test_the_sqlite_pool_names_its_file_timeout_and_memory_mode(tmp_path: Path) -> None:
    # The SQLite recorder puts a file in WAL mode before the pool opens it, reading
    # these three from the pool; the pool itself then finds WAL and leaves it alone.
    path = str(tmp_path / "events.db")
    app = Application[UUID](
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "7",
            "APPLICATION_RECORDER_TOPIC": get_topic(BatchSQLiteRecorder),
        }
    )
    recorder: Any = app.recorder
    pool = recorder.datastore.pool
    assert (pool.db_name, pool.lock_timeout, pool.is_sqlite_memory_mode) == (path, 7, False)
    app.save(Note("a"))
    assert pool.journal_mode_was_changed_to_wal is False
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    app.close()
    memory: Any = Application[UUID](
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": ":memory:",
            "APPLICATION_RECORDER_TOPIC": get_topic(BatchSQLiteRecorder),
        }
    )
    assert memory.recorder.datastore.pool.is_sqlite_memory_mode is True
    memory.close()


class HookedRecorder(PostgresApplicationRecorder):
    """The library's PostgreSQL recorder with the hook the project's recorder overrides."""

    calls: list[dict[str, Any]] = []  # noqa: RUF012 - shared with the test
    fail = False

    def _insert_stored_events(self, curs: Any, stored_events: Any, **kwargs: Any) -> None:
        super()._insert_stored_events(curs, stored_events, **kwargs)
        HookedRecorder.calls.append({"events": len(stored_events), **kwargs})
        if HookedRecorder.fail:
            # As the project's recorder writes the policy versions: on a cursor of its
            # own, after the events; a statement that fails there must undo them.
            with curs.connection.cursor() as other:
                other.execute("SELECT 1 / 0")


@pytest.mark.postgres
def test_the_postgresql_insert_hook_runs_in_the_events_transaction(pg_schema: str) -> None:
    env = dict(store_settings(f"{PG_URL}?schema={pg_schema}").env)
    env["APPLICATION_RECORDER_TOPIC"] = get_topic(HookedRecorder)
    app = Application[UUID](env=env)
    HookedRecorder.calls.clear()
    try:
        note = Note("a")
        note.edit("b")
        app.save(note, policy_versions="given")
        (call,) = HookedRecorder.calls
        assert (call["events"], call["policy_versions"]) == (2, "given")
        HookedRecorder.fail = True
        later = Note("c")
        with pytest.raises(Exception, match="division by zero"):
            app.save(later)
        # The hook ran after the events' insert, in their transaction: both are undone.
        assert list(app.recorder.select_events(later.id)) == []
        assert len(app.recorder.select_events(note.id)) == 2
    finally:
        HookedRecorder.fail = False
        app.close()


class IdsHookedRecorder(PostgresApplicationRecorder):
    """The library's PostgreSQL recorder with the hook the audit chain overrides."""

    seen: list[tuple[list[int], list[int]]] = []  # noqa: RUF012 - shared with the test
    fail = False

    def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Any, **kwargs: Any) -> Any:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        assert ids is not None
        with curs.connection.cursor() as other:
            # The rows are there, in this transaction, at the ids it returns.
            other.execute(
                f"SELECT notification_id FROM {self.datastore.schema}.{self.events_table_name} "
                "WHERE notification_id = ANY(%s)",
                (list(ids),),
            )
            visible = sorted(r["notification_id"] for r in other.fetchall())
            IdsHookedRecorder.seen.append(
                (list(ids), [e.originator_version for e in stored_events])
            )
            assert visible == sorted(ids)
            if IdsHookedRecorder.fail:
                other.execute("SELECT 1 / 0")
        return ids


@pytest.mark.postgres
def test_the_postgresql_ids_hook_sees_the_events_ids_in_their_order_and_transaction(
    pg_schema: str,
) -> None:
    env = dict(store_settings(f"{PG_URL}?schema={pg_schema}").env)
    env["APPLICATION_RECORDER_TOPIC"] = get_topic(IdsHookedRecorder)
    app = Application[UUID](env=env)
    IdsHookedRecorder.seen.clear()
    try:
        note = Note("a")
        note.edit("b")
        note.edit("c")
        app.save(note)
        ((ids, versions),) = IdsHookedRecorder.seen
        # one id per event, in the events' order: the audit chain pairs them by index
        assert versions == [1, 2, 3] and ids == sorted(ids) and len(set(ids)) == 3
        stored = app.recorder.select_notifications(ids[0], limit=3)
        assert [n.originator_version for n in stored] == versions
        assert [n.id for n in stored] == ids
        IdsHookedRecorder.fail = True
        later = Note("d")
        with pytest.raises(Exception, match="division by zero"):
            app.save(later)
        assert list(app.recorder.select_events(later.id)) == []
    finally:
        IdsHookedRecorder.fail = False
        app.close()


def test_the_seam_leaves_the_deals_clock_fields_as_the_library_keeps_them() -> None:
    guard = PolicyCatalog().guard("five-level")
    opened_at, recorded = T0, datetime(2026, 5, 1, tzinfo=UTC)
    deal = Deal.open(
        id=deal_id("C"),
        key="C",
        guard=guard,
        stamp=Stamp(opened_at, T0, "rep"),
        facts=FIVE_LEVEL_OPENING,
    )
    deal.log_visit("phone", True, [], None, Stamp(opened_at, recorded, "rep"))
    assert (deal.version, deal.created_on, deal.modified_on) == (2, T0, recorded)
    assert [e.originator_version for e in deal.pending_events] == [1, 2]
