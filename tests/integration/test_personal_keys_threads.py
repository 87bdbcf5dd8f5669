"""Threads of one engine sealing the same subjects (the service runs several): a key a
thread sealed with is its own until its write commits, so no other thread's write relies
on it (store/personal_keys.py, ``Keyring``'s per-thread ``Used``)."""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from salesengine.store.personal_keys import ENVELOPE, Keyring, Used
from tests.support.audit import StoreTables
from tests.support.commands import cmd
from tests.support.personal_keys import (
    key_rows,
    open_deal,
    sealed_not_written,
    subjects_of_label,
    unstored_seals,
    visits,
)
from tests.support.stores import StoreFactory


def attendee_subjects(stored: list[StoredEvent]) -> list[str]:
    state = orjson.loads(stored[-1].state)
    return [s for envelope in state["attendees"] for s in envelope[ENVELOPE]]


def test_a_thread_never_seals_under_another_threads_uncommitted_key(
    store_url: str, make_engine: StoreFactory
) -> None:
    engine = make_engine()
    tables = StoreTables(store_url)
    open_deal(engine, "D-1")
    open_deal(engine, "D-2")
    with ThreadPoolExecutor(max_workers=1) as other:  # one thread: its seal, its write
        pending = other.submit(sealed_not_written, engine, "D-1", attendees=["Lu"]).result()
        (uncommitted,) = attendee_subjects(pending)
        # This thread names Lu too while the other thread's key is not written.
        engine.execute(cmd(cmd="visit", deal="D-2", attendees=["Lu"], note="by this thread"))
        (stored,) = subjects_of_label(tables, "Lu")
        assert stored != uncommitted
        # The other thread's write, sealed under its own key, is refused as a race...
        with pytest.raises(IntegrityError):
            other.submit(engine.recorder.insert_events, pending).result()
        assert engine.load("D-1").version == 1
        # ...and its replay seals under the stored key.
        other.submit(engine.execute, cmd(cmd="visit", deal="D-1", attendees=["Lu"])).result()
    assert subjects_of_label(tables, "Lu") == [stored]
    assert unstored_seals(tables) == set()
    assert visits(engine, "D-1") == [(["Lu"], None)]
    assert visits(engine, "D-2") == [(["Lu"], "by this thread")]


def test_a_thread_whose_write_failed_leaves_nothing_for_the_next_write_of_the_thread(
    store_url: str, make_engine: StoreFactory
) -> None:
    """What a thread sealed is taken by its write, failed or not: its next write carries
    only what it sealed itself."""
    first, second = make_engine(), make_engine()
    tables = StoreTables(store_url)
    open_deal(first, "D-1")
    open_deal(first, "D-2")
    pending = sealed_not_written(first, "D-1", attendees=["Nia"], note="n")
    second.execute(cmd(cmd="amount", deal="D-1", amount="5"))
    with pytest.raises(IntegrityError):
        first.recorder.insert_events(pending)
    first.execute(cmd(cmd="amount", deal="D-2", amount="7"))  # seals nothing
    assert subjects_of_label(tables, "Nia") == []
    assert unstored_seals(tables) == set()


THREADS = 4
PEOPLE = 15


def test_threads_of_one_engine_naming_the_same_people_at_once(
    store_url: str, make_engine: StoreFactory
) -> None:
    engine = make_engine()
    tables = StoreTables(store_url)
    for t in range(THREADS):
        open_deal(engine, f"T-{t}")
    start = threading.Barrier(THREADS)

    def write(t: int) -> None:
        start.wait()
        for n in range(PEOPLE):
            engine.execute(
                cmd(cmd="visit", deal=f"T-{t}", attendees=[f"P{n}", f"Q{n}"], note=f"{t}/{n}")
            )

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        for done in [pool.submit(write, t) for t in range(THREADS)]:
            done.result()
    labels = sorted(label for _, scope, label in key_rows(tables) if scope == "")
    assert labels == sorted([f"P{n}" for n in range(PEOPLE)] + [f"Q{n}" for n in range(PEOPLE)])
    assert unstored_seals(tables) == set()
    reader = make_engine()
    for t in range(THREADS):
        assert visits(reader, f"T-{t}") == [([f"P{n}", f"Q{n}"], f"{t}/{n}") for n in range(PEOPLE)]


def test_a_live_key_never_reads_as_erased_while_another_threads_write_is_refused(
    store_url: str, make_engine: StoreFactory
) -> None:
    """A write refused as raced makes its engine forget the keys it used, so that the
    replay reads them again, and a new cache period forgets every key; meanwhile another
    thread reading a value sealed under one of them reads it (never "[erased]": the key
    is not erased), and neither thread fails on the keyring's shared caches."""
    engine = make_engine()
    open_deal(engine, "D-1")
    engine.execute(cmd(cmd="visit", deal="D-1", attendees=["Ann", "Bob"], note="both"))
    keyring = engine.personal
    assert isinstance(keyring, Keyring)
    deal = engine.load("D-1")
    state = orjson.loads(engine.recorder.select_events(deal.id)[-1].state)
    sealed = [
        (envelope, f"{deal.id.hex}/{name}".encode())
        for name, envelopes in (("attendees", state["attendees"]), ("note", [state["note"]]))
        for envelope in envelopes
    ]
    used = Used(known={s for envelope, _ in sealed for s in envelope[ENVELOPE]})
    stop = threading.Event()
    failures: list[BaseException] = []

    def refuse_writes() -> None:
        try:
            while not stop.is_set():
                keyring.raced(used)  # what insert_events does on a write refused as raced
                keyring.forget_all()  # a new cache period
        except BaseException as e:
            failures.append(e)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    racer = threading.Thread(target=refuse_writes)
    racer.start()
    read: list[object] = []
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline and not failures:
            read.extend(keyring.open(envelope, aad) for envelope, aad in sealed)
    finally:
        stop.set()
        racer.join()
        sys.setswitchinterval(interval)
    assert failures == []
    assert len(read) > 100
    assert set(read) == {"Ann", "Bob", "both"}


def test_a_key_read_as_a_new_cache_period_begins_is_not_taken_for_erased(
    store_url: str, make_engine: StoreFactory
) -> None:
    """One interleaving the test above finds by chance, made to happen: another thread
    begins a new cache period right after this thread read the key from the store and
    before it looks at its cache again; the key read is the key."""
    writer, reader = make_engine(), make_engine()
    open_deal(writer, "D-1")
    writer.execute(cmd(cmd="visit", deal="D-1", attendees=["Ann"]))
    keyring = reader.personal
    assert isinstance(keyring, Keyring)
    recorder: Any = reader.recorder
    read_keys = recorder.personal_keys

    def read_then_new_period(**which: Any) -> Any:
        rows = read_keys(**which)
        other = threading.Thread(target=keyring.forget_all)  # another thread, right now
        other.start()
        other.join(timeout=5)  # (a keyring that held its lock over the read waits here)
        return rows

    recorder.personal_keys = read_then_new_period
    assert visits(reader, "D-1") == [(["Ann"], None)]
    recorder.personal_keys = read_keys
    assert visits(reader, "D-1") == [(["Ann"], None)]  # and not marked erased since
