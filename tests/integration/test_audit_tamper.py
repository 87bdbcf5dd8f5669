"""Tampering with a chained store's tables directly, as whoever holds the database can,
on SQLite and PostgreSQL: each edit, removal, insertion and reordering is found and
named, by the engine's verification and by the standalone verifier on its export."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from salesengine.application.engine import SalesEngine
from salesengine.audit_verifier import Finding, Report
from tests.support.audit import StoreTables, both_verdicts, write_history
from tests.support.stores import StoreFactory

# The log written by write_history: A1 B1 C1 A2 B2 A3 A4 C2 acct1 acct2 quota1 quota2 B3
A2, B2, A3, A4, QUOTA1 = 4, 5, 6, 7, 11


@pytest.fixture
def tables(make_engine: StoreFactory, store_url: str) -> StoreTables:
    engine: SalesEngine = make_engine()
    write_history(engine)
    return StoreTables(store_url)


def verdicts(tables: StoreTables) -> tuple[list[Finding], Report]:
    in_store, standalone = both_verdicts(tables.url)
    assert in_store.report.findings == standalone.findings
    assert in_store.report.root == standalone.root
    return standalone.findings, standalone


def named(findings: list[Finding]) -> list[tuple[str, int | None]]:
    return [(f.kind, f.position) for f in findings]


def test_given_an_untampered_store_then_both_verifiers_hold_over_every_aggregate(
    tables: StoreTables,
) -> None:
    findings, report = verdicts(tables)
    assert findings == [] and report.holds
    events = tables.events_at()
    chained = tables.rows(f"SELECT position, aggregate, version FROM {tables.chain}")
    assert sorted(chained) == [(p, a, v) for p, a, v in events]
    # deals, an account and a quota: five aggregates, all chained
    assert len({a for _, a, _ in events}) == 5 and report.size == len(events) == 13


def _state(tables: StoreTables, position: int) -> bytes:
    (state,) = tables.rows(
        f"SELECT state FROM {tables.events} WHERE {tables.position} = ?", (position,)
    )[0]
    return bytes(state)


def _at(tables: StoreTables, position: int) -> str:
    return f"WHERE {tables.position} = {position}"


EVENT_EDITS: dict[str, tuple[Callable[[StoreTables], None], str, int]] = {
    "state": (
        lambda t: t.run(
            f"UPDATE {t.events} SET state = ? {_at(t, A2)}",
            (_state(t, A2).replace(b"2000", b"2001"),),
        ),
        "state: differs",
        A2,
    ),
    "topic": (
        lambda t: t.run(f"UPDATE {t.events} SET topic = topic || 'x' {_at(t, A2)}"),
        "topic: differs",
        A2,
    ),
    "originator_version": (
        lambda t: t.run(f"UPDATE {t.events} SET originator_version = 99 {_at(t, A2)}"),
        "identity: chained",
        A2,
    ),
    "originator_id": (  # deal A's 4th event moved to the quota, which has no 4th
        lambda t: t.run(
            f"UPDATE {t.events} SET originator_id = "
            f"(SELECT originator_id FROM {t.events} {_at(t, QUOTA1)}) {_at(t, A4)}"
        ),
        "identity: chained",
        A4,
    ),
}


@pytest.mark.parametrize("field", sorted(EVENT_EDITS))
def test_given_an_event_column_updated_then_that_event_is_named_edited(
    tables: StoreTables, field: str
) -> None:
    edit, what, position = EVENT_EDITS[field]
    version = tables.events_at()[position - 1][2]
    edit(tables)
    findings, report = verdicts(tables)
    assert not report.holds
    assert named(findings) == [("edited", position)], findings
    assert what in " ".join(findings[0].details)
    assert findings[0].version == version


def test_given_an_event_moved_to_another_position_then_it_is_named_reordered(
    tables: StoreTables,
) -> None:
    tables.run(f"UPDATE {tables.events} SET {tables.position} = 1000 {_at(tables, A3)}")
    findings, _ = verdicts(tables)
    assert ("reordered", A3) in named(findings)
    assert "moved to position 1000" in findings[named(findings).index(("reordered", A3))].details[0]
    assert ("inserted", 1000) in named(findings)


def test_given_two_events_swapping_positions_then_both_are_named_reordered(
    tables: StoreTables,
) -> None:
    t = tables
    t.run(f"UPDATE {t.events} SET {t.position} = -5 {_at(t, A2)}")
    t.run(f"UPDATE {t.events} SET {t.position} = {A2} {_at(t, B2)}")
    t.run(f"UPDATE {t.events} SET {t.position} = {B2} {_at(t, -5)}")
    findings, _ = verdicts(t)
    assert named(findings) == [("reordered", A2), ("reordered", B2)], findings


def test_given_an_event_deleted_then_it_is_named_removed_with_its_aggregate_and_version(
    tables: StoreTables,
) -> None:
    aggregate = tables.events_at()[A3 - 1][1]
    tables.run(f"DELETE FROM {tables.events} {_at(tables, A3)}")
    findings, _ = verdicts(tables)
    assert named(findings) == [("removed", A3)]
    assert (findings[0].aggregate, findings[0].version) == (aggregate, 3)


def test_given_an_event_and_its_link_deleted_then_the_gap_is_named_where_it_shows(
    tables: StoreTables,
) -> None:
    tables.run(f"DELETE FROM {tables.events} {_at(tables, A2)}")
    tables.run(f"DELETE FROM {tables.chain} WHERE position = {A2}")
    findings, _ = verdicts(tables)
    # the log breaks at the next position; deal A's next event misses version 2
    assert ("link", B2) in named(findings)
    removed = [f for f in findings if f.kind == "removed"]
    assert [(f.position, f.version) for f in removed] == [(A3, 3)]
    assert "versions 2 of its aggregate are missing" in removed[0].details[0]


def test_given_an_event_inserted_then_it_is_named_inserted(tables: StoreTables) -> None:
    t = tables
    t.run(
        f"INSERT INTO {t.events} (originator_id, originator_version, topic, state) "
        f"SELECT originator_id, 50, topic, state FROM {t.events} {_at(t, A2)}"
    )
    findings, _ = verdicts(t)
    ((kind, position),) = named(findings)
    assert kind == "inserted" and position is not None and position > 13
    assert findings[0].version == 50


LINK_EDITS: dict[str, tuple[str, tuple[Any, ...], str, str]] = {
    "state_digest": ("state_digest = ?", (bytes(32),), "edited", "state: differs"),
    "event_hash": ("event_hash = ?", (bytes(32),), "link", "event hash was altered"),
    "log_hash": ("log_hash = ?", (bytes(32),), "link", "log chain breaks"),
    "seq": ("seq = seq + 100", (), "link", "numbered 104"),
    "aggregate": ("aggregate = ?", ("0" * 32,), "edited", "identity: chained"),
    "version": ("version = 7", (), "edited", "identity: chained"),
}


@pytest.mark.parametrize("column", sorted(LINK_EDITS))
def test_given_a_chain_column_updated_then_that_position_alone_is_named(
    tables: StoreTables, column: str
) -> None:
    assignment, params, kind, what = LINK_EDITS[column]
    tables.run(f"UPDATE {tables.chain} SET {assignment} WHERE position = {A2}", params)
    findings, _ = verdicts(tables)
    assert named(findings) == [(kind, A2)], findings
    assert what in " ".join(findings[0].details)
