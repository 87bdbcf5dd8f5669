"""The read models' reader gives the same records whatever the store's mapper: the plain
orjson one (decoded directly), one that compresses, and the library's own (through its
domain events); from SQLite's table read directly and from any recorder's notifications."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import pytest
from eventsourcing.compressor import ZlibCompressor
from eventsourcing.persistence import (
    ApplicationRecorder,
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    UUIDAsHex,
)
from eventsourcing.popo import POPOApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from salesengine.bootstrap import build_engine
from salesengine.domain.deal import DealEvent
from salesengine.projections.base import Record
from salesengine.projections.stored_events import StoredLog, record_of_event
from salesengine.projections.timeline import TIMELINE_TOPICS
from salesengine.store.codec import DateAsISO, OrjsonMapper
from tests.support.clock import Clock
from tests.support.commands import cmd
from tests.support.histories import RECORDING_START, Step


@dataclass
class Store:
    recorder: ApplicationRecorder
    mapper: Mapper[UUID]


def some_events() -> list[DealEvent]:
    clock = Clock(RECORDING_START)
    engine = build_engine("sqlite:///:memory:", clock=clock, actor="prop")
    at = RECORDING_START - timedelta(days=5)
    d = {"deal": "d"}
    steps = [
        Step(1, {"cmd": "open", **d, "policy": "maven", "at": at, "amount": "7.5", "owner": "a"}),
        Step(1, {"cmd": "visit", **d, "at": at, "effective": True, "note": "met them"}),
        Step(1, {"cmd": "next_step", **d, "at": at, "action": "call", "due": "2027-01-01"}),
        Step(1, {"cmd": "amount", **d, "at": at + timedelta(hours=1), "amount": "9"}),
        Step(1, {"cmd": "lost", **d, "at": at + timedelta(hours=2), "reason": "price"}),
        Step(1, {"cmd": "reopen", **d, "at": at + timedelta(hours=3), "to": "engaging"}),
    ]
    try:
        for step in steps:
            clock.tick(minutes=step.tick_minutes)
            engine.execute(cmd(**step.command))
        return sorted(engine.load("d").timeline, key=lambda e: e.originator_version)
    finally:
        engine.close()


def library_mapper() -> Mapper[UUID]:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(transcoding)
    return Mapper(transcoder=transcoder)


def sqlite_recorder() -> ApplicationRecorder:
    recorder = SQLiteApplicationRecorder(SQLiteDatastore(":memory:"))
    recorder.create_table()
    return recorder


@pytest.mark.parametrize("recorder", [sqlite_recorder, POPOApplicationRecorder])
@pytest.mark.parametrize(
    "mapper", [OrjsonMapper, lambda: OrjsonMapper(compressor=ZlibCompressor()), library_mapper]
)
def test_the_records_read_are_the_events_records_whatever_the_mapper(
    recorder: Callable[[], ApplicationRecorder], mapper: Callable[[], Mapper[UUID]]
) -> None:
    # Given a deal's events stored through the mapper
    events = some_events()
    kinds = {type(e).__name__ for e in events}
    assert {"VisitLogged", "Reopened", "AmountChanged"} <= kinds, "the deal's commands held"
    store = Store(recorder(), mapper())
    store.recorder.insert_events([store.mapper.to_stored_event(e) for e in events])
    log = StoredLog(store, TIMELINE_TOPICS | {"VisitLogged"})
    expected: list[Record] = [record_of_event(e) for e in events]
    # When the log is read as records
    envelopes = log.read(0, 100)
    # Then they are the events' records, in log order, with the deal's id
    assert [e.record for e in envelopes] == expected
    assert [e.position for e in envelopes] == list(range(1, len(events) + 1))
    assert {e.deal_id for e in envelopes} == {events[0].originator_id.hex}
    assert log.read(2, 4) == envelopes[2:4]
    assert log.head() == len(events)
    # And one deal's records below a version are its earlier ones
    assert log.history(events[0].originator_id.hex, 4) == expected[:3]
