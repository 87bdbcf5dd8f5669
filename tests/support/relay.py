"""Stores with deal histories, the messages a relay owes for them, and subscribers that
collect what it publishes."""

from __future__ import annotations

import asyncio
import random
import shutil
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

from sqlalchemy import Engine

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.cli.demo_quarter import build_demo, commands
from salesengine.integration.contract import IntegrationEvent
from salesengine.integration.relay import Relay
from salesengine.integration.subscriptions import Subscriptions
from salesengine.integration.translate import TOPICS, Translator
from salesengine.integration.transports import (
    BrokerUnavailable,
    broker_transport,
    make_broker,
    parse_broker_url,
)
from salesengine.store.identity import store_id
from salesengine.store.notification_log import LogReader
from tests.support.services import service_unavailable

# The shared brokers the services run, by the name a test's parameter gives.
BROKERS = {
    "nats": "nats://127.0.0.1:4222",
    "rabbit": "amqp://guest:guest@127.0.0.1:5672/",
    "redis": "redis://127.0.0.1:6379",
}


def seed_demo(db: str, seed: int | None = None) -> SalesEngine:
    """A demo quarter (five-level policy, ~900 deals) in a new store. A fresh seed gives
    new deal keys, so new event ids: brokers that drop repeated ids take them all."""
    engine = build_engine(db, actor="tester")
    seed = seed if seed is not None else random.randrange(1, 10**9)
    today = datetime.now(UTC).date() - timedelta(days=1)
    plan = build_demo(engine.catalog.get("five-level"), today, seed)
    for _ in engine.execute_many(commands(plan)):
        pass
    return engine


def copy_store(template: Path, target: Path) -> str:
    shutil.copyfile(template, target)
    return str(target)


def expected_messages(
    engine: SalesEngine, store: UUID | Engine, start: int = 0
) -> list[IntegrationEvent]:
    """What the relay owes for the store's log after ``start``, worked out directly,
    with the store's id (given, or read from its database as the relay reads it)."""
    log = LogReader(engine, TOPICS)
    translator = Translator(
        log.history,
        engine.catalog.get,
        store if isinstance(store, UUID) else store_id(store),
        versions=engine.policy_of_version,
    )
    found = []
    for position, _, event in log.read(0, log.head()):
        message = translator.translate(position, event)
        if message is not None and position > start:
            found.append(message)
    return found


def first_seen_in_order(received: Iterable[IntegrationEvent]) -> dict[UUID, list[int]]:
    """Each deal's event versions, in the order their first copies arrived."""
    seen: set[UUID] = set()
    versions: dict[UUID, list[int]] = {}
    for event in received:
        if event.id in seen:
            continue
        seen.add(event.id)
        versions.setdefault(event.deal_id, []).append(event.version)
    return versions


def by_deal(events: Iterable[IntegrationEvent]) -> dict[UUID, list[IntegrationEvent]]:
    """Each deal's events in arrival order: what the relay promises to keep (messages
    of different deals are in flight together, so their interleaving may vary)."""
    deals: dict[UUID, list[IntegrationEvent]] = {}
    for event in events:
        deals.setdefault(event.deal_id, []).append(event)
    return deals


async def declare_for_relay(url: str) -> None:
    """Declare now what the relay declares when it starts (the JetStream stream, the
    RabbitMQ exchange), the same way: a subscriber bound before the relay's first run,
    as on a fresh server, needs it to exist. ``BrokerUnavailable`` if unreachable."""
    transport = broker_transport(parse_broker_url(url))
    try:
        await transport.start()
    finally:
        await transport.stop()


async def until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll on the event loop until ``condition`` holds; fail naming ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class Collector:
    """A handler that keeps every event it is given."""

    def __init__(self) -> None:
        self.events: list[IntegrationEvent] = []

    async def __call__(self, event: IntegrationEvent) -> None:
        self.events.append(event)


def collecting(
    event_type: str | None = None, policy: str | None = None
) -> tuple[Subscriptions, Collector]:
    subscriptions = Subscriptions()
    collector = Collector()
    subscriptions.on(event_type, policy=policy)(collector)
    return subscriptions, collector


def relay_to_subscribers(
    kind: str,
    engine: SalesEngine,
    sql: Engine,
    subscriptions: Subscriptions,
    arrived: Callable[[], bool],
    *,
    group: str,
    what: str,
    from_position: int | None = None,
) -> None:
    """Bind ``subscriptions`` on the shared broker ``kind`` as a new consumer group that
    reads only what arrives from now on, relay the store once, and wait up to 30 s until
    ``arrived()``. A broker that is not reachable skips the test (fails it in CI)."""
    url = parse_broker_url(BROKERS[kind])
    consumer = make_broker(url)
    subscriptions.bind(
        consumer, group=f"{group}-{uuid.uuid4().hex[:8]}", from_start=False, durable=False
    )

    async def relay() -> None:
        try:
            await declare_for_relay(BROKERS[kind])
        except BrokerUnavailable as e:
            service_unavailable(kind, e)
        try:
            await consumer.start()
            await Relay(engine, sql, broker_transport(url)).run(from_position=from_position)
            await until(arrived, 30, what)
        finally:
            await consumer.stop()

    asyncio.run(relay())
