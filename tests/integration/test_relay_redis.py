"""Redis streams as a plain client reads them: JSON bodies, headers as fields, no copies."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import redis
from redis.typing import KeyT, StreamIdT
from sqlalchemy import Engine

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.integration.contract import IntegrationEvent, parse
from salesengine.integration.relay import Relay, RelayOptions
from salesengine.integration.transports import broker_transport, parse_broker_url
from salesengine.store.identity import store_id
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.relay import expected_messages, seed_demo
from tests.support.services import service_unavailable

REDIS = "redis://127.0.0.1:6379"
SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "integration" / "schemas"
Entry = tuple[str, str, dict[str, str]]  # (stream, entry id, fields)
Cursor = dict[KeyT, StreamIdT]  # stream -> the id of the last entry read from it


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS, decode_responses=True, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as e:
        service_unavailable("Redis", e)
    yield client
    client.close()


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    seed_demo(str(path)).close()
    return path


class Store:
    """A copy of the demo store: its own store id once first relayed."""

    def __init__(self, template: Path, path: Path) -> None:
        shutil.copyfile(template, path)
        self.engine: SalesEngine = build_engine(str(path), actor="tester")
        self.sql: Engine = sql_engine(store_settings(str(path)))

    @property
    def id(self) -> str:
        return str(store_id(self.sql))

    def relay(self, **kwargs: Any) -> int:
        transport = broker_transport(parse_broker_url(REDIS))
        relay = Relay(self.engine, self.sql, transport, RelayOptions(name="redis-test"))
        return asyncio.run(relay.run(**kwargs)).published

    def expected(self) -> list[IntegrationEvent]:
        return expected_messages(self.engine, self.sql)

    def close(self) -> None:
        self.sql.dispose()
        self.engine.close()


@pytest.fixture
def stores(demo_template: Path, tmp_path: Path) -> Iterator[list[Store]]:
    made = [Store(demo_template, tmp_path / f"store-{n}.db") for n in range(2)]
    yield made
    for store in made:
        store.close()


def tops(client: redis.Redis, streams: set[str]) -> Cursor:
    """Each stream's last entry id now ("0-0" for a stream not there yet)."""
    found: Cursor = {}
    for stream in streams:
        last = client.xrevrange(stream, count=1)
        if last:
            entry_id = last[0][0]
            assert isinstance(entry_id, str)  # the client decodes replies
            found[stream] = entry_id
        else:
            found[stream] = "0-0"
    return found


def read_after(client: redis.Redis, after: Cursor) -> list[Entry]:
    """Every entry added to the streams after the given ids, with plain XREAD."""
    entries: list[Entry] = []
    cursor = dict(after)
    while True:
        batch = client.xread(cursor, count=1000)
        if not batch:
            return entries
        assert isinstance(batch, list)  # RESP2's reply: [stream, entries] pairs
        for stream, items in batch:
            for entry_id, fields in items:
                entries.append((stream, entry_id, fields))
                cursor[stream] = entry_id


def of_store(entries: list[Entry], store: str) -> list[Entry]:
    return [e for e in entries if "data" in e[2] and json.loads(e[2]["data"])["store_id"] == store]


def test_a_plain_redis_client_reads_json_bodies_with_their_headers_and_replays_add_nothing(
    client: redis.Redis, stores: list[Store]
) -> None:
    store = stores[0]
    expected = store.expected()
    streams = {m.subject for m in expected}
    before = tops(client, streams)

    assert store.relay() == len(expected)
    entries = of_store(read_after(client, before), store.id)

    schemas = {
        p.name.removesuffix(".v1.json"): json.loads(p.read_text()) for p in SCHEMAS.iterdir()
    }
    by_id = {str(m.id): m for m in expected}
    for stream, _, fields in entries:
        body = json.loads(fields["data"])  # the body itself, no envelope before it
        jsonschema.Draft202012Validator(
            schemas[body["type"]], format_checker=jsonschema.FormatChecker()
        ).validate(body)
        assert parse(fields["data"]) == by_id[body["id"]]
        assert stream == by_id[body["id"]].subject
        assert fields["message_id"] == body["id"]
        assert fields["event_type"] == body["type"]
        assert fields["position"] == str(body["position"])
        assert fields["content-type"] == "application/json"
        assert set(fields) == {"data", "message_id", "event_type", "position", "content-type"}
    assert sorted(json.loads(f["data"])["id"] for _, _, f in entries) == sorted(by_id)
    # Each stream holds the store's events in log order.
    for stream in streams:
        positions = [int(f["position"]) for s, _, f in entries if s == stream]
        assert positions == sorted(positions)

    # Replayed from the first event, by this relay and by another: nothing is added.
    middle = tops(client, streams)
    assert store.relay(from_position=1) == len(expected)
    assert store.relay(from_position=len(expected) // 2) > 0
    assert of_store(read_after(client, middle), store.id) == []

    # Another store with the same deals (the same keys) is its own: all of it is added.
    other = stores[1]
    assert other.id != store.id
    assert other.relay() == len(expected)
    others = of_store(read_after(client, middle), other.id)
    assert sorted(json.loads(f["data"])["id"] for _, _, f in others) == sorted(
        str(m.id) for m in other.expected()
    )


def test_a_stream_deleted_is_started_afresh_by_a_replay(
    client: redis.Redis, stores: list[Store]
) -> None:
    store = stores[0]
    expected = store.expected()
    store.relay()
    won = {m.subject for m in expected if m.type == "deal.won"}
    assert len(won) == 1
    (stream,) = won
    client.delete(stream)
    store.relay(from_position=1)
    entries = of_store(read_after(client, {stream: "0-0"}), store.id)
    assert len(entries) == sum(1 for m in expected if m.subject == stream)
