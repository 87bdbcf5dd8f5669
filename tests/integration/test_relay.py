"""The relay: every event once per subscriber, in order per deal, on each transport."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import nats
import pytest
from faststream.nats import NatsBroker, TestNatsBroker
from nats.js.api import ConsumerConfig, DeliverPolicy
from sqlalchemy import Engine

from salesengine.application.engine import SalesEngine
from salesengine.integration.contract import IntegrationEvent, parse
from salesengine.integration.documents import contract_drift, contract_files
from salesengine.integration.relay import Backoff, Relay, RelayOptions
from salesengine.integration.relay_positions import PositionStore
from salesengine.integration.subscriptions import InProcessTransport, Subscriptions
from salesengine.integration.transports import (
    BrokerUnavailable,
    Outgoing,
    broker_transport,
    make_broker,
    parse_broker_url,
)
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.relay import (
    BROKERS,
    Collector,
    by_deal,
    collecting,
    copy_store,
    declare_for_relay,
    expected_messages,
    first_seen_in_order,
    seed_demo,
    until,
)
from tests.support.services import service_unavailable

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "docs" / "integration"
QUICK = Backoff(first=0.01, most=0.05)


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    seed_demo(str(path), seed=11).close()
    return path


@pytest.fixture
def store(demo_template: Path, tmp_path: Path) -> Iterator[tuple[SalesEngine, Engine]]:
    from salesengine.bootstrap import build_engine

    db = copy_store(demo_template, tmp_path / "store.db")
    engine = build_engine(db, actor="tester")
    sql = sql_engine(store_settings(db))
    yield engine, sql
    sql.dispose()
    engine.close()


# ------------------------------------------------------------------ in process


def test_in_process_handlers_get_every_event_once_in_order_per_deal(
    store: tuple[SalesEngine, Engine],
) -> None:
    engine, sql = store
    subscriptions, collector = collecting()
    relay = Relay(engine, sql, InProcessTransport(subscriptions))
    progress = asyncio.run(relay.run())
    expected = expected_messages(engine, sql)
    assert len(expected) > 1000
    assert by_deal(collector.events) == by_deal(expected)
    assert progress.published == len(expected)
    assert progress.position == progress.head == engine.recorder.max_notification_id()
    for versions in first_seen_in_order(collector.events).values():
        assert versions == sorted(versions)


def test_handlers_filter_by_event_type_and_policy(store: tuple[SalesEngine, Engine]) -> None:
    engine, sql = store
    subscriptions = Subscriptions()
    won, other_policy = Collector(), Collector()
    subscriptions.on("deal.won", policy="five-level")(won)
    subscriptions.on(policy="seven-stage")(other_policy)
    asyncio.run(Relay(engine, sql, InProcessTransport(subscriptions)).run())
    expected = [m for m in expected_messages(engine, sql) if m.type == "deal.won"]
    assert expected and by_deal(won.events) == by_deal(expected)
    assert other_policy.events == []


def test_an_unknown_event_type_is_refused_when_subscribing() -> None:
    with pytest.raises(ValueError, match="unknown integration event type 'deal.moved'"):
        Subscriptions().on("deal.moved")


def test_a_second_run_publishes_only_what_is_new(store: tuple[SalesEngine, Engine]) -> None:
    engine, sql = store
    subscriptions, collector = collecting()
    asyncio.run(Relay(engine, sql, InProcessTransport(subscriptions)).run())
    before = len(collector.events)
    again = asyncio.run(Relay(engine, sql, InProcessTransport(subscriptions)).run())
    assert again.published == 0
    assert len(collector.events) == before


def test_from_position_replays_history_and_handlers_drop_the_copies(
    store: tuple[SalesEngine, Engine],
) -> None:
    engine, sql = store
    subscriptions, collector = collecting()
    asyncio.run(Relay(engine, sql, InProcessTransport(subscriptions)).run())
    expected = expected_messages(engine, sql)
    start = expected[len(expected) // 2].position
    replay = asyncio.run(
        Relay(engine, sql, InProcessTransport(subscriptions)).run(from_position=start)
    )
    replayed = [m for m in expected if m.position >= start]
    assert replay.published == len(replayed)
    assert subscriptions.subscriptions[0].duplicates == len(replayed)
    assert by_deal(collector.events) == by_deal(expected)  # each event handled once

    # A new subscriber sees the replayed part of history, in order.
    fresh, late = collecting()
    asyncio.run(Relay(engine, sql, InProcessTransport(fresh)).run(from_position=start))
    assert by_deal(late.events) == by_deal(replayed)


def test_from_position_must_be_a_log_position(store: tuple[SalesEngine, Engine]) -> None:
    engine, sql = store
    relay = Relay(engine, sql, InProcessTransport(Subscriptions()))
    with pytest.raises(ValueError, match="--from-position must be 1 or more"):
        asyncio.run(relay.run(from_position=0))


class FlakyTransport(InProcessTransport):
    """Refuses the publishes whose turn (counting from 1) is in ``fail_at``."""

    def __init__(self, subscriptions: Subscriptions, fail_at: set[int]) -> None:
        super().__init__(subscriptions)
        self.fail_at = fail_at
        self.attempts = 0
        self.acked: list[int] = []

    async def publish(self, message: Outgoing) -> None:
        self.attempts += 1
        if self.attempts in self.fail_at:
            raise BrokerUnavailable(f"refused publish #{self.attempts}")
        await super().publish(message)
        self.acked.append(message.position)


def test_a_refused_publish_is_retried_and_nothing_is_lost_or_reordered(
    store: tuple[SalesEngine, Engine],
) -> None:
    engine, sql = store
    subscriptions = Subscriptions()
    raw: list[IntegrationEvent] = []

    async def every_copy(event: IntegrationEvent) -> None:
        raw.append(event)

    subscriptions.on()(every_copy)
    # Seen ids are not dropped here: this handler wants every copy delivered.
    subscriptions.subscriptions[0].seen.capacity = 0
    transport = FlakyTransport(subscriptions, fail_at={5, 700, 1500, 3000})
    retries: list[str] = []
    relay = Relay(
        engine,
        sql,
        transport,
        RelayOptions(batch_size=250, backoff=QUICK),
        on_retry=lambda reason, _: retries.append(reason),
    )
    progress = asyncio.run(relay.run())
    expected = expected_messages(engine, sql)
    assert len(retries) == 4 and retries[0] == "refused publish #5"
    assert {e.id for e in raw} == {e.id for e in expected}
    assert len(raw) > len(expected)  # the pages that failed went out again
    for deal, versions in first_seen_in_order(raw).items():
        assert versions == sorted(versions), deal
    assert progress.position == progress.head


def test_the_position_moves_only_past_acknowledged_pages(
    store: tuple[SalesEngine, Engine],
) -> None:
    engine, sql = store
    transport = FlakyTransport(Subscriptions(), fail_at=set(range(900, 100_000)))
    stop = asyncio.Event()
    relay = Relay(
        engine,
        sql,
        transport,
        RelayOptions(name="stuck", batch_size=300, backoff=QUICK),
        on_retry=lambda *_: stop.set(),
    )
    asyncio.run(relay.run(follow=True, stop=stop))
    stored = PositionStore(sql, "stuck").load()
    head = engine.recorder.max_notification_id()
    assert head is not None
    assert 0 < stored < head
    owed = [m.position for m in expected_messages(engine, sql) if m.position <= stored]
    assert set(owed) <= set(transport.acked)  # everything behind the position was acked
    owed_all = {m.position for m in expected_messages(engine, sql)}
    assert min(owed_all - set(transport.acked)) > stored


# ------------------------------------------------------------------ faststream TestBroker


def test_subscribers_on_a_test_broker_get_the_relayed_events(
    store: tuple[SalesEngine, Engine],
) -> None:
    engine, sql = store
    url = parse_broker_url(BROKERS["nats"])
    broker = make_broker(url)
    assert isinstance(broker, NatsBroker)
    subscriptions, collector = collecting("deal.stage_changed", "five-level")
    subscriptions.bind(broker, group="unit")

    async def run() -> None:
        async with TestNatsBroker(broker):
            await Relay(engine, sql, broker_transport(url, broker)).run()

    asyncio.run(run())
    expected = [m for m in expected_messages(engine, sql) if m.type == "deal.stage_changed"]
    assert expected and by_deal(collector.events) == by_deal(expected)


# ------------------------------------------------------------------ real brokers


@pytest.mark.parametrize("kind", sorted(BROKERS))
def test_a_real_broker_carries_every_event_in_order_per_deal(kind: str, tmp_path: Path) -> None:
    engine = seed_demo(str(tmp_path / "store.db"))
    sql = sql_engine(store_settings(str(tmp_path / "store.db")))
    url = parse_broker_url(BROKERS[kind])
    consumer_broker = make_broker(url)
    # Redis streams have no wildcards: one type of one policy; the others take all.
    chosen = ("deal.stage_changed", "five-level") if kind == "redis" else (None, None)
    subscriptions, collector = collecting(*chosen)
    group = f"test-{uuid.uuid4().hex[:8]}"
    subscriptions.bind(consumer_broker, group=group, from_start=False, durable=False)
    expected = [
        m
        for m in expected_messages(engine, sql)
        if chosen[0] is None or (m.type, m.policy) == chosen
    ]

    async def run() -> None:
        # On a fresh server the JetStream stream does not exist until the relay first
        # starts, and a JetStream subscriber cannot start before it: declare it first,
        # as the relay does. (Only this step reports the broker as unreachable: any
        # later failure is the test's.)
        try:
            await declare_for_relay(BROKERS[kind])
        except BrokerUnavailable as e:
            service_unavailable(kind, e)
        try:
            await consumer_broker.start()
            progress = await Relay(engine, sql, broker_transport(url)).run()
            assert progress.published >= len(expected)
            await until(lambda: len(collector.events) >= len(expected), 60, "every event")
        finally:
            await consumer_broker.stop()

    try:
        asyncio.run(run())
    finally:
        sql.dispose()
        engine.close()
    assert by_deal(collector.events) == by_deal(expected)


def test_a_plain_nats_client_reads_messages_that_match_the_published_schemas(
    tmp_path: Path,
) -> None:
    engine = seed_demo(str(tmp_path / "store.db"))
    sql = sql_engine(store_settings(str(tmp_path / "store.db")))
    expected = expected_messages(engine, sql)
    schemas = {
        path.name.removesuffix(".v1.json"): json.loads(path.read_text())
        for path in (CONTRACT / "schemas").glob("*.json")
    }
    received: list[tuple[dict[str, Any], dict[str, str]]] = []

    async def run() -> None:
        try:
            client = await nats.connect(
                BROKERS["nats"], connect_timeout=3, max_reconnect_attempts=0
            )
        except Exception as e:  # each client raises its own
            service_unavailable("NATS", e)
        # The relay declares the stream; a plain subscriber needs it to exist first.
        await declare_for_relay(BROKERS["nats"])
        js = client.jetstream()

        async def keep(msg: Any) -> None:
            received.append((json.loads(msg.data), dict(msg.headers or {})))
            await msg.ack()

        sub = await js.subscribe(
            "salesengine.deal.>",
            stream="SALESENGINE",
            cb=keep,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
            manual_ack=True,
        )
        try:
            await Relay(engine, sql, broker_transport(parse_broker_url(BROKERS["nats"]))).run(
                from_position=1
            )
            await until(lambda: len(received) >= len(expected), 60, "every message")
        finally:
            await sub.unsubscribe()
            await client.close()

    try:
        asyncio.run(run())
    finally:
        sql.dispose()
        engine.close()
    assert by_deal(parse(json.dumps(body)) for body, _ in received) == by_deal(expected)
    for body, headers in received:
        validator = jsonschema.Draft202012Validator(
            schemas[body["type"]], format_checker=jsonschema.FormatChecker()
        )
        validator.validate(body)
        assert headers["Nats-Msg-Id"] == body["id"]
        assert parse(json.dumps(body)) in expected


def test_an_unreachable_broker_is_retried_and_nothing_moves(
    store: tuple[SalesEngine, Engine],
) -> None:
    engine, sql = store
    dead = parse_broker_url("nats://127.0.0.1:1")  # nothing listens on port 1
    stop = asyncio.Event()
    reasons: list[str] = []

    def retried(reason: str, _: float) -> None:
        reasons.append(reason)
        if len(reasons) == 1:
            stop.set()

    relay = Relay(
        engine,
        sql,
        broker_transport(dead),
        RelayOptions(name="dead", backoff=QUICK),
        on_retry=retried,
    )
    asyncio.run(relay.run(follow=True, stop=stop))
    assert len(reasons) == 1
    assert PositionStore(sql, "dead").load() == 0


# ------------------------------------------------------------------ the contract


def test_the_committed_contract_matches_the_code() -> None:
    assert contract_drift(CONTRACT) == []


def test_a_contract_that_drifted_from_the_code_is_reported(tmp_path: Path) -> None:
    for name, text in contract_files().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert contract_drift(tmp_path) == []
    schema = tmp_path / "schemas" / "deal.won.v1.json"
    document = json.loads(schema.read_text())
    document["properties"].pop("amount")
    schema.write_text(json.dumps(document))
    (tmp_path / "asyncapi-nats.json").unlink()
    assert contract_drift(tmp_path) == [
        f"{tmp_path / 'asyncapi-nats.json'}: missing",
        f"{schema}: differs from the code",
    ]


def test_the_asyncapi_document_names_every_event_channel() -> None:
    document = json.loads(contract_files()["asyncapi-nats.json"])
    assert document["asyncapi"] == "3.0.0"
    assert sorted(document["channels"]) == sorted(
        f"salesengine.deal.{{policy}}.{name}"
        for name in (
            "opened",
            "stage_changed",
            "visit_logged",
            "next_step_set",
            "next_step_completed",
            "amount_changed",
            "owner_changed",
            "expected_close_changed",
            "fact_recorded",
            "fact_retracted",
            "key_info_recorded",
            "key_info_retracted",
            "won",
            "lost",
            "abandoned",
        )
    )
