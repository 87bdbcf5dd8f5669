"""Writes that fail after sealing under a new key: nothing of them is stored (not the
events, not their audit chain rows, not the key), the audit chain still holds, and the
write replayed is stored whole (store/personal_keys.py, the recorders)."""

from __future__ import annotations

import time
from typing import Any, cast

import pytest
from eventsourcing.persistence import IntegrityError

from salesengine.domain.personal import PEOPLE_SCOPE
from salesengine.store.chain_table import CHAIN_TABLE
from salesengine.store.personal_keys import KEYS_TABLE
from salesengine.store.postgres_recorder import PostgresRecorder
from tests.support.audit import StoreTables, both_verdicts
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


def counts(tables: StoreTables) -> tuple[int, int, int]:
    """Events, chain rows and keys stored."""
    return (
        tables.rows(f"SELECT count(*) FROM {tables.events}")[0][0],
        tables.rows(f"SELECT count(*) FROM {CHAIN_TABLE}")[0][0],
        tables.rows(f"SELECT count(*) FROM {KEYS_TABLE}")[0][0],
    )


def assert_chain_holds(url: str) -> None:
    in_store, standalone = both_verdicts(url)
    assert in_store.report.findings == [] and in_store.report.holds
    assert standalone.findings == [] and standalone.holds


def test_a_version_conflict_after_sealing_under_a_new_key_stores_no_key_and_replays(
    store_url: str, make_engine: StoreFactory
) -> None:
    first, second = make_engine(), make_engine()
    tables = StoreTables(store_url)
    open_deal(first, "D-1")
    pending = sealed_not_written(first, "D-1", attendees=["Kim"], note="about Kim")
    second.execute(cmd(cmd="amount", deal="D-1", amount="2000"))  # the deal moves on
    before = counts(tables)
    with pytest.raises(IntegrityError):
        first.recorder.insert_events(pending)
    assert counts(tables) == before
    assert subjects_of_label(tables, "Kim") == []
    assert_chain_holds(store_url)
    # The command replayed (as execute does on a conflict) is stored whole, under one key.
    first.execute(cmd(cmd="visit", deal="D-1", attendees=["Kim"], note="about Kim"))
    assert len(subjects_of_label(tables, "Kim")) == 1
    assert unstored_seals(tables) == set()
    assert visits(make_engine(), "D-1") == [(["Kim"], "about Kim")]
    assert_chain_holds(store_url)


def test_a_write_refused_for_a_raced_key_leaves_nothing_visible_and_the_chain_holds(
    store_url: str, make_engine: StoreFactory
) -> None:
    """On PostgreSQL the refusal is made by failing the transaction on the server (the
    library commits what its hooks did otherwise): the events and chain rows it wrote
    before the check must not be visible."""
    first, second = make_engine(), make_engine()
    tables = StoreTables(store_url)
    open_deal(first, "D-1")
    open_deal(first, "D-2")
    pending = sealed_not_written(
        first, "D-1", attendees=["Lee", "Mo"], note="Lee and Mo"
    )  # two new keys
    second.execute(cmd(cmd="visit", deal="D-2", attendees=["Mo"]))  # one of them raced
    before = counts(tables)
    with pytest.raises(IntegrityError):
        first.recorder.insert_events(pending)
    assert counts(tables) == before
    assert subjects_of_label(tables, "Lee") == []  # the key that did not race is not kept
    assert_chain_holds(store_url)
    # The store takes the replay, and later writes, on the same engine and connections.
    first.execute(cmd(cmd="visit", deal="D-1", attendees=["Lee", "Mo"], note="Lee and Mo"))
    first.execute(cmd(cmd="amount", deal="D-1", amount="1500"))
    people = sorted(label for _, scope, label in key_rows(tables) if scope == PEOPLE_SCOPE)
    assert people == ["Lee", "Mo"]
    assert unstored_seals(tables) == set()
    assert visits(make_engine(), "D-1") == [(["Lee", "Mo"], "Lee and Mo")]
    assert_chain_holds(store_url)


def test_a_known_key_checked_alongside_a_raced_new_one(
    store_url: str, make_engine: StoreFactory
) -> None:
    """A write using a stored key and a raced new one: the whole write is refused, the
    stored key stays, and nothing is forgotten that the replay needs."""
    first, second = make_engine(), make_engine()
    tables = StoreTables(store_url)
    open_deal(first, "D-1")
    open_deal(first, "D-2")
    first.execute(cmd(cmd="visit", deal="D-1", attendees=["Ann"]))
    (ann,) = subjects_of_label(tables, "Ann")
    pending = sealed_not_written(first, "D-1", attendees=["Ann", "Bo"], note="both")
    second.execute(cmd(cmd="visit", deal="D-2", attendees=["Bo"]))
    with pytest.raises(IntegrityError):
        first.recorder.insert_events(pending)
    assert subjects_of_label(tables, "Ann") == [ann]
    first.execute(cmd(cmd="visit", deal="D-1", attendees=["Ann", "Bo"], note="both"))
    assert unstored_seals(tables) == set()
    assert visits(make_engine(), "D-1") == [(["Ann"], None), (["Ann", "Bo"], "both")]
    assert_chain_holds(store_url)


@pytest.mark.postgres
@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_a_conflict_whose_answer_arrives_while_the_checks_are_queued_is_a_conflict(
    make_engine: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The insert's failure can come back while the recorder still queues its checks in
    the same pipeline; the checks' answers owed then must not turn the conflict into
    "pipeline aborted" (a 503 instead of a replay). A pause before the keys' check lets
    the server answer the insert first, every time."""
    first, second = make_engine(), make_engine()
    open_deal(first, "D-1")
    pending = sealed_not_written(first, "D-1", attendees=["Kim"], note="about Kim")
    second.execute(cmd(cmd="amount", deal="D-1", amount="2000"))  # the deal moves on
    recorder = cast(PostgresRecorder, first.recorder)
    queue_keys = recorder._queue_keys

    def late(conn: Any, used: Any) -> Any:
        conn.cursor().execute("SELECT 1", prepare=False)  # one more answer owed after it
        time.sleep(0.3)  # the insert's answer (its failure) is back by now
        return queue_keys(conn, used)

    monkeypatch.setattr(recorder, "_queue_keys", late)
    with pytest.raises(IntegrityError):
        recorder.insert_events(pending)
    monkeypatch.undo()
    first.execute(cmd(cmd="visit", deal="D-1", attendees=["Kim"], note="about Kim"))
    assert visits(make_engine(), "D-1") == [(["Kim"], "about Kim")]
