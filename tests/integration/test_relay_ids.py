"""Published ids are the store's own: unique between stores, stable within one."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

import nats
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy
from sqlalchemy import Engine, inspect

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.integration.contract import IntegrationEvent
from salesengine.integration.relay import Relay
from salesengine.integration.subscriptions import InProcessTransport, Subscriptions
from salesengine.integration.transports import (
    BrokerUnavailable,
    broker_transport,
    parse_broker_url,
)
from salesengine.store.identity import store_id
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.clock import T0
from tests.support.commands import FIVE_LEVEL_OPENING, cmd
from tests.support.relay import declare_for_relay, until
from tests.support.services import service_unavailable
from tests.support.stores import StoreFactory

NATS = "nats://127.0.0.1:4222"


def write_acme(engine: SalesEngine) -> None:
    """The same deal, under the same key, as any other store may hold it."""
    engine.execute(
        cmd(cmd="open", deal="ACME-1", policy="five-level", at=T0, facts=FIVE_LEVEL_OPENING)
    )
    engine.execute(cmd(cmd="visit", deal="ACME-1", at=T0, effective=True))
    engine.execute(cmd(cmd="amount", deal="ACME-1", at=T0, amount="100", currency="EUR"))


def relayed(engine: SalesEngine, sql: Engine) -> list[IntegrationEvent]:
    """Every message a new relay publishes for the store, from its first event."""
    subscriptions = Subscriptions()
    received: list[IntegrationEvent] = []

    async def keep(event: IntegrationEvent) -> None:
        received.append(event)

    subscriptions.on()(keep)
    relay = Relay(engine, sql, InProcessTransport(subscriptions))
    asyncio.run(relay.run(from_position=1))
    return received


@pytest.fixture
def sql(store_url: str) -> Iterator[Engine]:
    engine = sql_engine(store_settings(store_url))
    yield engine
    engine.dispose()


def test_a_store_gets_an_id_on_first_open_and_relays_the_same_ids_every_time(
    make_engine: StoreFactory, sql: Engine
) -> None:
    engine = make_engine()
    write_acme(engine)
    # A store written before stores had ids has no table for one.
    assert not inspect(sql).has_table("store_identity")
    first = relayed(engine, sql)
    assert inspect(sql).has_table("store_identity")
    store = store_id(sql)
    # Replayed by another relay, on another connection to the same store: the same ids.
    again = relayed(make_engine(), sql)
    assert [m.id for m in again] == [m.id for m in first]
    assert [m.deal_id for m in again] == [m.deal_id for m in first]
    assert len(first) == 3 and {m.store_id for m in first} == {store}
    assert {m.deal_id for m in first} == {uuid5(store, "ACME-1")}
    assert [m.id for m in first] == [uuid5(uuid5(store, "ACME-1"), str(m.version)) for m in first]


def test_processes_giving_a_new_store_its_id_at_once_agree_on_it(
    store_url: str, sql: Engine
) -> None:
    engines = [sql_engine(store_settings(store_url)) for _ in range(4)]
    found: list[UUID] = []
    start = threading.Barrier(len(engines))

    def ask(engine: Engine) -> None:
        start.wait()
        found.append(store_id(engine))

    threads = [threading.Thread(target=ask, args=(engine,)) for engine in engines]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        for engine in engines:
            engine.dispose()
    assert len(found) == len(engines)
    assert len(set(found)) == 1
    assert store_id(sql) == found[0]


def test_two_stores_with_the_same_deal_key_both_arrive_on_one_jetstream_stream(
    tmp_path: Path,
) -> None:
    stores = []
    for name in ("east", "west"):
        db = str(tmp_path / f"{name}.db")
        engine = build_engine(db, actor="tester")
        write_acme(engine)
        stores.append((engine, sql_engine(store_settings(db))))
    received: list[dict[str, Any]] = []

    async def run() -> None:
        try:
            await declare_for_relay(NATS)
        except BrokerUnavailable as e:
            service_unavailable("NATS", e)
        client = await nats.connect(NATS, connect_timeout=3, max_reconnect_attempts=0)
        js = client.jetstream()

        async def keep(msg: Any) -> None:
            body = json.loads(msg.data)
            if body["deal"] == "ACME-1":
                received.append(body)
            await msg.ack()

        sub = await js.subscribe(
            "salesengine.deal.five-level.*",
            stream="SALESENGINE",
            cb=keep,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
            manual_ack=True,
        )
        try:
            for engine, sql in stores:
                transport = broker_transport(parse_broker_url(NATS))
                progress = await Relay(engine, sql, transport).run()
                assert progress.published == 3  # opened, visit_logged, amount_changed
            await until(lambda: len(received) >= 6, 30, "both stores' messages")
            await asyncio.sleep(0.5)  # and nothing more
        finally:
            await sub.unsubscribe()
            await client.close()

    try:
        asyncio.run(run())
        ids = {str(store_id(sql)) for _, sql in stores}
    finally:
        for engine, sql in stores:
            sql.dispose()
            engine.close()
    assert len(received) == 6, [(m["type"], m.get("store_id")) for m in received]
    assert {m["store_id"] for m in received} == ids
    assert len({m["id"] for m in received}) == 6
    assert len({m["deal_id"] for m in received}) == 2
