"""The NATS transport's fast path: the bytes it writes, and the relay without it.

While the connection is plainly up, ``NatsTransport.send`` frames each message itself
and queues it through two private methods of nats-py (``_send_command``,
``_flush_pending``, reached through ``salesengine.integration.nats_seam``); otherwise,
or on a nats-py without them, it uses the client's ``publish``. These tests pin both:
the framing must be byte for byte what nats-py's publish writes, and the relay must
deliver the same on either path. A new nats-py version (pinned in pyproject.toml) must
pass them, and tests/unit/test_nats_seam.py, first.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import nats
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nats.aio.client import Client as NatsClient
from nats.js.api import ConsumerConfig, DeliverPolicy
from sqlalchemy import Engine

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.integration import nats_seam
from salesengine.integration.contract import MODELS, IntegrationEvent, parse, subject
from salesengine.integration.relay import Relay, RelayOptions
from salesengine.integration.relay_positions import PositionStore
from salesengine.integration.transports import (
    JSON,
    STREAM_NAME,
    BrokerUnavailable,
    NatsTransport,
    Outgoing,
    broker_transport,
    parse_broker_url,
)
from salesengine.integration.transports.nats import nats_headers
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.clock import T0
from tests.support.commands import FIVE_LEVEL_OPENING, cmd
from tests.support.relay import by_deal, declare_for_relay, expected_messages, seed_demo, until
from tests.support.services import service_unavailable

NATS_URL = "nats://127.0.0.1:4222"
RELAYED = "salesengine.deal."  # every relayed subject starts so


# ------------------------------------------------------------------ framing, no server


class Recording(NatsClient):
    """A nats-py client that keeps each command its publish queues, with no server: it
    passes for connected, and has no flusher (it never connected), so nothing is
    written anywhere."""

    def __init__(self) -> None:
        super().__init__()
        self.commands: list[bytes] = []

    @property
    def is_connected(self) -> bool:
        return True

    async def _send_command(self, cmd: bytes, priority: bool = False) -> None:
        assert not priority  # publish queues behind what is pending
        self.commands.append(cmd)


async def published_bytes(subject: str, body: bytes, reply: str, headers: dict[str, str]) -> bytes:
    """What nats-py's own ``publish`` queues for the connection."""
    client = Recording()
    await client.publish(subject, body, reply, headers)
    assert len(client.commands) == 1, client.commands
    return client.commands[0]


@st.composite
def outgoing(draw: st.DrawFn) -> Outgoing:
    """A relayed message: any policy name (it becomes one subject token), any body."""
    event_type = draw(st.sampled_from(sorted(MODELS)))
    return Outgoing(
        str(draw(st.uuids())),
        event_type,
        subject(event_type, draw(st.text(max_size=40))),
        draw(st.uuids()).hex,
        draw(st.integers(min_value=1, max_value=2**63 - 1)),
        draw(st.binary(max_size=4096)),
        str(draw(st.uuids())),
    )


@settings(max_examples=300)
@given(message=outgoing(), token=st.integers(min_value=0, max_value=10**12))
def test_the_fast_path_frames_a_message_as_nats_py_publish_does(
    message: Outgoing, token: int
) -> None:
    reply = f"{NatsClient().new_inbox()}.{token}"
    headers = nats_headers(message)
    ours = nats_seam.framed(message.subject, reply, headers, message.body)
    assert ours == asyncio.run(published_bytes(message.subject, message.body, reply, headers))


def test_the_relayed_headers_carry_the_event_id_as_message_and_correlation_id() -> None:
    message = Outgoing(
        str(uuid.uuid4()), "deal.won", subject("deal.won", "five-level"), "ab" * 16, 42, b"{}", "s"
    )
    assert nats_headers(message) == {
        "content-type": JSON,
        "message_id": message.id,
        "event_type": "deal.won",
        "position": "42",
        "correlation_id": message.id,
        "Nats-Msg-Id": message.id,
        "Nats-Expected-Stream": STREAM_NAME,
    }


def test_this_nats_py_offers_what_the_fast_path_queues_with() -> None:
    # Without them the transport quietly falls back to publish: still correct, slower.
    assert nats_seam.command_queue(NatsClient()) is not None


# ------------------------------------------------------------------ a real server


def one_relayed_message() -> Outgoing:
    """A real ``deal.opened`` for a new deal key, as the relay would send it."""
    engine = build_engine("sqlite:///:memory:", actor="tester")
    try:
        engine.execute(
            cmd(
                cmd="open",
                deal=f"FAST-{uuid.uuid4().hex[:12]}",
                policy="five-level",
                at=T0,
                facts=FIVE_LEVEL_OPENING,
            )
        )
        (event,) = expected_messages(engine, uuid.uuid4())
    finally:
        engine.close()
    return Outgoing(
        str(event.id),
        event.type,
        event.subject,
        event.deal_id.hex,
        event.position,
        event.model_dump_json().encode(),
        str(event.store_id),
    )


def test_on_a_live_connection_send_queues_what_publish_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fast path is taken on a live nats-py 2.16 connection, it queues exactly the
    bytes nats-py's publish queues for the same message, and JetStream acknowledges it."""
    queued: list[bytes] = []
    queue_command = NatsClient._send_command

    async def recording(self: NatsClient, cmd: bytes, priority: bool = False) -> None:
        if cmd.startswith(b"HPUB " + RELAYED.encode()):
            queued.append(cmd)
        await queue_command(self, cmd, priority)

    # Patched on the class before the transport connects: the fast path takes the
    # client's bound method when its ack inbox opens.
    monkeypatch.setattr(NatsClient, "_send_command", recording)
    message = one_relayed_message()

    async def run() -> tuple[bytes, bytes]:
        transport = broker_transport(parse_broker_url(NATS_URL))
        assert isinstance(transport, NatsTransport)
        try:
            await transport.start()
        except BrokerUnavailable as e:
            service_unavailable("NATS", e)
        try:
            assert transport.pipelined and transport._queue is not None
            acked = await transport.send(message)
            await asyncio.wait_for(acked, 10)  # stored (or a duplicate dropped): no error
            assert len(queued) == 1
            fast = queued.pop()
            # The same message through nats-py's publish, with the same reply subject
            # (JetStream drops it as a duplicate; its ack finds no one waiting).
            client = transport._client
            assert client is not None
            reply = fast.split(b" ")[2].decode()
            await client.publish(message.subject, message.body, reply, nats_headers(message))
            assert len(queued) == 1
            return fast, queued.pop()
        finally:
            await transport.stop()

    fast, published = asyncio.run(run())
    assert fast == published
    assert fast.endswith(b"\r\n\r\n" + message.body + b"\r\n")


Stored = tuple[dict[str, Any], dict[str, str]]  # a message's body and headers


@pytest.fixture
def publishes(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """The relayed messages nats-py's own ``publish`` sends, by subject."""
    sent: Counter[str] = Counter()
    publish = NatsClient.publish

    async def counting(
        self: NatsClient,
        subject: str,
        payload: bytes = b"",
        reply: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        if subject.startswith(RELAYED):
            sent[subject] += 1
        await publish(self, subject, payload, reply, headers)

    monkeypatch.setattr(NatsClient, "publish", counting)
    return sent


async def relay_twice(
    engine: SalesEngine, sql: Engine, name: str
) -> tuple[list[tuple[int, int]], dict[int, Stored]]:
    """Relay the whole log, then replay all of it; per run, what it published and the
    position it stored; and every message the stream took meanwhile (anyone's), by
    stream sequence, read back by a plain JetStream consumer."""
    try:
        await declare_for_relay(NATS_URL)
    except BrokerUnavailable as e:
        service_unavailable("NATS", e)
    stored: dict[int, Stored] = {}
    runs: list[tuple[int, int]] = []
    client = await nats.connect(NATS_URL, connect_timeout=3, max_reconnect_attempts=0)
    js = client.jetstream()

    async def keep(msg: Any) -> None:
        stored[msg.metadata.sequence.stream] = (json.loads(msg.data), dict(msg.headers or {}))
        await msg.ack()

    sub = await js.subscribe(
        f"{RELAYED}>",
        stream=STREAM_NAME,
        cb=keep,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
        manual_ack=True,
    )
    try:
        assert PositionStore(sql, name).load() == 0
        for start in (None, 1):
            transport = broker_transport(parse_broker_url(NATS_URL))
            progress = await Relay(engine, sql, transport, RelayOptions(name)).run(
                from_position=start
            )
            runs.append((progress.published, PositionStore(sql, name).load()))
        last = (await js.stream_info(STREAM_NAME)).state.last_seq
        await until(lambda: max(stored, default=0) >= last, 60, "the stream's messages")
    finally:
        await sub.unsubscribe()
        await client.close()
    return runs, stored


@pytest.mark.parametrize("path", ["fast", "fallback"])
def test_the_relay_stores_every_event_once_in_order_per_deal(
    path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, publishes: Counter[str]
) -> None:
    """On either path, and replayed: each event in the stream exactly once (JetStream
    drops the replay's copies by ``Nats-Msg-Id``), each deal's in version order, with
    the event id as ``correlation_id``, and the position stored at the head."""
    if path == "fallback":  # as on a nats-py without the private methods
        monkeypatch.setattr(nats_seam, "command_queue", lambda _client: None)
    engine = seed_demo(str(tmp_path / "store.db"))
    sql = sql_engine(store_settings(str(tmp_path / "store.db")))
    expected = expected_messages(engine, sql)
    head = engine.recorder.max_notification_id()
    try:
        runs, stored = asyncio.run(relay_twice(engine, sql, f"nats-{path}"))
    finally:
        sql.dispose()
        engine.close()

    assert runs == [(len(expected), head), (len(expected), head)]
    if path == "fast":
        assert publishes == Counter()  # every message framed and queued by the transport
    else:
        assert sum(publishes.values()) == 2 * len(expected)  # both runs, through publish
    ours = {str(m.deal_id) for m in expected}
    mine = [stored[seq] for seq in sorted(stored) if stored[seq][0]["deal_id"] in ours]
    copies = Counter(body["id"] for body, _ in mine)
    assert set(copies) == {str(m.id) for m in expected}
    assert max(copies.values()) == 1, "an event stored twice"
    events: list[IntegrationEvent] = [parse(json.dumps(body)) for body, _ in mine]
    assert by_deal(events) == by_deal(expected)  # in the stream in order per deal
    for body, headers in mine:
        assert headers["Nats-Msg-Id"] == headers["correlation_id"] == body["id"]
        assert headers["message_id"] == body["id"]
        assert headers["event_type"] == body["type"]
        assert headers["position"] == str(body["position"])
        assert headers["content-type"] == JSON
        assert headers["Nats-Expected-Stream"] == STREAM_NAME
