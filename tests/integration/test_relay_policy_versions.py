"""The relay publishes each opening and stage change with the probabilities of the policy
version that decided it, not of the policy file as it is when it relays (docs/metrics.md,
"Policy versions"; docs/integration.md): on SQLite and PostgreSQL, and on each real
broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from salesengine.integration.contract import (
    DealOpenedV1,
    DealStageChangedV1,
    DealWonV1,
    IntegrationEvent,
)
from salesengine.integration.relay import Relay
from salesengine.integration.subscriptions import InProcessTransport, Subscriptions
from salesengine.integration.translate import TOPICS, Translator
from salesengine.store.notification_log import LogReader
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.clock import T0
from tests.support.policy_versions import (
    Store,
    as_stored_before_versions,
    opening,
    to_contacted,
    write_acme,
)
from tests.support.relay import BROKERS, collecting, expected_messages, relay_to_subscribers


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[Store]:
    s = Store(store_url, tmp_path / "policies")
    yield s
    s.close()


def probabilities(messages: list[IntegrationEvent]) -> list[tuple[str, str, int | None, str]]:
    """(deal, type, probability, policy version) of each opening and stage change."""
    found: list[tuple[str, str, int | None, str]] = []
    for m in messages:
        if isinstance(m, DealOpenedV1 | DealStageChangedV1):
            assert m.policy_version is not None
            found.append((m.deal, m.type, m.probability, m.policy_version))
    return found


def edited_between_two_moves(store: Store, a: str = "A", b: str = "B") -> tuple[str, str]:
    """Deal ``a`` opens and moves under acme at 10 % / 25 %; the file is then edited to
    20 % / 40 %, and ``b`` opens and moves under it. The two versions' fingerprints."""
    v1 = write_acme(store.folder, 10, 25)
    store.run(opening(a, T0), *to_contacted(a, T0 + timedelta(days=1)))
    v2 = write_acme(store.folder, 20, 40)
    store.run(opening(b, T0 + timedelta(days=2)), *to_contacted(b, T0 + timedelta(days=3)))
    return v1.fingerprint, v2.fingerprint


def test_a_replay_after_an_edit_publishes_the_probabilities_then_in_force(store: Store) -> None:
    v1, v2 = edited_between_two_moves(store)
    # A relay started after the edit reads the edited file; it replays the whole log.
    relay_engine = store.engine()
    assert relay_engine.catalog.get("acme").fingerprint == v2
    replayed = expected_messages(relay_engine, store.sql)
    assert probabilities(replayed) == [
        ("A", "deal.opened", 10, v1),
        ("A", "deal.stage_changed", 25, v1),
        ("B", "deal.opened", 20, v2),
        ("B", "deal.stage_changed", 40, v2),
    ]
    # A deal met mid-history (a relay from a later position, a deal evicted from the
    # translator's cache) is read back from the store with the same versions.
    log = LogReader(relay_engine, TOPICS)
    store_id = replayed[0].store_id
    forgetful = Translator(log.history, relay_engine.catalog.get, store_id,
                           versions=relay_engine.policy_of_version, capacity=0)  # fmt: skip
    assert [forgetful.translate(p, e) for p, _, e in log.read(0, log.head())] == replayed


def test_a_close_names_the_version_that_decided_it(store: Store) -> None:
    v1 = write_acme(store.folder, 10, 25).fingerprint
    store.run(opening("A", T0))
    v2 = write_acme(store.folder, 20, 40).fingerprint
    store.run({"cmd": "won", "deal": "A", "at": T0 + timedelta(days=1)})
    opened, won = expected_messages(store.engine(), store.sql)
    assert isinstance(opened, DealOpenedV1) and isinstance(won, DealWonV1)
    assert (opened.policy_version, won.policy_version) == (v1, v2)


def test_stage_changes_stored_without_a_version_count_under_the_deals_previous_one(
    store: Store,
) -> None:
    # Given a store written before moves recorded their version, its file unchanged
    v1 = write_acme(store.folder, 10, 25).fingerprint
    store.run(opening("A", T0), *to_contacted("A", T0 + timedelta(days=1)))
    as_stored_before_versions(store)
    store.engine()
    store.project()  # as a report would: the version on disk is kept now
    # When the file is edited, then the log is relayed
    write_acme(store.folder, 20, 40)
    # Then the move counts under the opening's version, with its probability
    assert probabilities(expected_messages(store.engine(), store.sql)) == [
        ("A", "deal.opened", 10, v1),
        ("A", "deal.stage_changed", 25, v1),
    ]


def test_a_version_neither_kept_nor_on_disk_is_published_with_the_files_and_noted(
    store: Store,
) -> None:
    # Given a store from before versions were kept, its file edited before it was upgraded
    v1 = write_acme(store.folder, 10, 25).fingerprint
    store.run(opening("A", T0), *to_contacted("A", T0 + timedelta(days=1)))
    as_stored_before_versions(store)
    v2 = write_acme(store.folder, 20, 40).fingerprint
    notes: list[str] = []
    subscriptions, collector = collecting(policy="acme")
    relay = Relay(store.engine(), store.sql, InProcessTransport(subscriptions),
                  on_note=notes.append)  # fmt: skip
    asyncio.run(relay.run())
    published = collector.events
    # Then the file's current probabilities stand in (as the reports weigh), and a note
    # names both versions, once
    assert probabilities(published) == [
        ("A", "deal.opened", 20, v1),
        ("A", "deal.stage_changed", 40, v1),
    ]
    assert len(notes) == 1 and v1 in notes[0] and v2 in notes[0]


@pytest.mark.parametrize("kind", sorted(BROKERS))
def test_a_subscriber_receives_each_move_with_the_probability_it_was_decided_under(
    kind: str, tmp_path: Path
) -> None:
    store = Store(str(tmp_path / "store.db"), tmp_path / "policies")
    a, b = (f"PV-{uuid.uuid4().hex[:8]}" for _ in "ab")
    try:
        v1, v2 = edited_between_two_moves(store, a, b)
        relay_engine = store.engine()  # started after the edit
        sql = sql_engine(store_settings(store.url))
        subscriptions = Subscriptions()
        received: list[DealStageChangedV1] = []

        @subscriptions.on("deal.stage_changed", policy="acme")
        async def moved(event: DealStageChangedV1) -> None:
            if event.deal in (a, b):
                received.append(event)

        try:
            relay_to_subscribers(
                kind,
                relay_engine,
                sql,
                subscriptions,
                lambda: len(received) >= 2,
                group="versions",
                what="both stage changes",
                from_position=1,
            )
        finally:
            sql.dispose()
    finally:
        store.close()
    assert sorted((e.deal, e.probability, e.policy_version) for e in received) == sorted(
        [(a, 25, v1), (b, 40, v2)]
    )
