"""The relay under faults: killed mid-page, or its broker restarted, it loses nothing.

Each test runs the real ``salesengine relay`` command against a private broker on a free
port (never the shared one), then reads everything the broker holds and compares it with
the messages the store's log translates to, computed here without any broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from salesengine.bootstrap import build_engine
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.brokers import (
    NatsServer,
    PrivateServer,
    RedisServer,
    wait_for,
)
from tests.support.commands import cmd
from tests.support.relay import expected_messages as owed_messages

RELAY = "faults"  # the relay's --name: its row in relay_positions
SETTLE_SECONDS = 60.0  # deadline for anything the relay must reach on a loaded machine
# After a restart the relay may first wait out an unanswered publish (10 s), a connect
# attempt (10 s) and its backoff before it republishes the rest.
RECOVER_SECONDS = 150.0
STREAM = "SALESENGINE"


# --- fixtures ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two demo quarters (~13,000 events, ~9,800 messages), seeded once per module."""
    path = tmp_path_factory.mktemp("template") / "store.db"
    for seed in ("7", "8"):
        done = subprocess.run(
            [sys.executable, "-m", "salesengine", "--db", str(path), "demo", "--seed", seed],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    return path


@pytest.fixture
def store(template_store: Path, tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    shutil.copy(template_store, path)
    return path


# --- the relay as a subprocess -------------------------------------------------------


class RelayProcess:
    """``salesengine relay`` with its stderr in a file, so it can be read while it runs."""

    def __init__(self, store: Path, broker: str, log: Path, *args: str) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "salesengine",
                    "--db",
                    str(store),
                    "relay",
                    "--broker",
                    broker,
                    "--name",
                    RELAY,
                    *args,
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=store.parent,
            )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait()

    def terminate(self, seconds: float = SETTLE_SECONDS) -> int:
        self.process.terminate()
        return self.process.wait(seconds)


def relay_once(store: Path, broker: str, log: Path, *args: str) -> str:
    """Run ``relay --once`` to completion; its output."""
    relay = RelayProcess(store, broker, log, "--once", *args)
    try:
        code = relay.process.wait(120)
    finally:
        relay.kill()
    output = relay.output()
    assert code == 0, output
    return output


def kill_at_random_points(
    store: Path,
    broker: str,
    log: Path,
    head: int,
    *,
    seed: int,
    batch_sizes: Sequence[int],
    most_pause: float,
) -> list[int]:
    """Up to four following relays, each with one of ``batch_sizes`` and killed at a
    random moment of up to ``most_pause`` seconds after it stored its first position
    (once it is publishing); the position stored at each kill. It stops early once a
    relay caught up before its kill: nothing is left to publish."""
    rng = random.Random(seed)
    killed_at: list[int] = []
    for _ in range(4):
        if stored_position(store) == head:
            break
        # One size takes no draw, so the pauses are the same whatever the sizes are.
        batch_size = batch_sizes[0] if len(batch_sizes) == 1 else rng.choice(batch_sizes)
        kill_once_publishing(store, broker, log, batch_size, rng.uniform(0.0, most_pause))
        killed_at.append(stored_position(store))
    return killed_at


def kill_once_publishing(
    store: Path, broker: str, log: Path, batch_size: int, pause: float
) -> None:
    before = stored_position(store)
    relay = RelayProcess(store, broker, log, "--follow", "--batch-size", str(batch_size))
    try:
        wait_for(
            lambda: stored_position(store) > before or not relay.alive(),
            SETTLE_SECONDS,
            "the relay to store a position",
        )
        assert relay.alive(), relay.output()
        time.sleep(pause)
    finally:
        relay.kill()


def stored_position(store: Path) -> int:
    """The relay's tracking position (0 before it stored one)."""
    with contextlib.closing(sqlite3.connect(store, timeout=30)) as conn:
        try:
            row = conn.execute(
                "SELECT position FROM relay_positions WHERE name = ?", (RELAY,)
            ).fetchone()
        except sqlite3.OperationalError:  # its table is not there yet
            return 0
    return int(row[0]) if row else 0


# --- what the store's log translates to, without a broker ----------------------------


@dataclass(frozen=True)
class Expected:
    head: int
    bodies: dict[str, dict[str, Any]]  # event id -> the message body as JSON

    @property
    def ids(self) -> set[str]:
        return set(self.bodies)


def expected_messages(store: Path) -> Expected:
    engine = build_engine(str(store), actor="tester")
    sql = sql_engine(store_settings(str(store)))
    try:
        owed = owed_messages(engine, sql)
        bodies = {str(m.id): json.loads(m.model_dump_json()) for m in owed}
        return Expected(engine.recorder.max_notification_id() or 0, bodies)
    finally:
        sql.dispose()
        engine.close()


@dataclass(frozen=True)
class Received:
    """One message as the broker holds it, where it holds it."""

    stream: str
    # Its place in ``stream``: a JetStream sequence, or a Redis entry id (milliseconds,
    # then a sequence within them).
    place: tuple[int, int]
    body: dict[str, Any]
    msg_id: str | None  # the header the broker deduplicates by, if it has one

    def arrived_before(self, other: Received) -> bool:
        """Whether it certainly reached the broker first. Places in one stream are in
        arrival order; across Redis streams only the milliseconds compare, so messages
        of the same millisecond count as arriving together."""
        if self.stream == other.stream:
            return self.place < other.place
        return self.place[0] <= other.place[0]


def assert_nothing_lost(received: list[Received], expected: Expected) -> None:
    """Every event arrived, nothing else did, and each deal's events came in order."""
    first: dict[str, Received] = {}
    for message in received:
        # Copies of one event share its subject, so their places compare.
        seen = first.get(message.body["id"])
        if seen is None or message.place < seen.place:
            first[message.body["id"]] = message
    missing = expected.ids - first.keys()
    extra = first.keys() - expected.ids
    assert not missing, f"{len(missing)} events never arrived, e.g. {sorted(missing)[:3]}"
    assert not extra, f"{len(extra)} messages for no stored event, e.g. {sorted(extra)[:3]}"
    # A restarted relay rebuilds what it repeats (key, policy, amount) from the store:
    # its messages must read exactly as those of one uninterrupted pass.
    differing = [i for i, m in first.items() if m.body != expected.bodies[i]]
    assert not differing, (
        f"{len(differing)} messages differ from their event's translation, e.g. "
        f"{first[differing[0]].body} != {expected.bodies[differing[0]]}"
    )
    deals: dict[str, list[Received]] = {}
    for message in first.values():
        deals.setdefault(message.body["deal_id"], []).append(message)
    out_of_order = []
    for messages in deals.values():
        messages.sort(key=lambda m: m.body["version"])
        out_of_order += [
            (a.body, b.body) for a, b in itertools.pairwise(messages) if not a.arrived_before(b)
        ]
    assert not out_of_order, (
        f"{len(out_of_order)} times a deal's event arrived before its previous one, e.g. "
        f"{out_of_order[0]}"
    )


# --- reading a broker back -----------------------------------------------------------


def read_jetstream(url: str) -> list[Received]:
    """Every message of the SALESENGINE stream, from its first, in stream order."""
    return asyncio.run(_read_jetstream(url))


async def _read_jetstream(url: str) -> list[Received]:
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    client = await nats.connect(url, connect_timeout=10, max_reconnect_attempts=0)
    try:
        js = client.jetstream(timeout=10)
        state = (await js.stream_info(STREAM)).state
        received: list[Received] = []
        if state.messages == 0:
            return received
        subscription = await js.pull_subscribe(
            f"{STREAM.lower()}.>",
            stream=STREAM,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE),
        )
        try:
            last = 0
            while last < state.last_seq:
                for message in await subscription.fetch(500, timeout=10):
                    last = message.metadata.sequence.stream
                    headers = message.headers or {}
                    received.append(
                        Received(
                            STREAM, (last, 0), json.loads(message.data), headers.get("Nats-Msg-Id")
                        )
                    )
        finally:
            await subscription.unsubscribe()
        assert len(received) == state.messages, "the stream changed while it was read"
        return received
    finally:
        await client.close()


def assert_deduplicated_by_event_id(received: list[Received]) -> None:
    """The transport's promise: JetStream drops a republished event (same Nats-Msg-Id)
    within its duplicate window, which every test here stays well inside."""
    assert all(m.msg_id == m.body["id"] for m in received), "Nats-Msg-Id is not the event id"
    ids = [m.body["id"] for m in received]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} duplicates in the stream"


def read_redis_streams(url: str) -> list[Received]:
    """Every entry of every ``salesengine.deal.*`` stream (one per subject), read as a
    plain client reads it: the body in the field ``data``, the headers beside it."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        received = []
        for key in client.scan_iter(match="salesengine.deal.*", count=1000):
            for entry_id, fields in client.xrange(key, "-", "+") or []:
                # Replies are bytes: the client does not decode them.
                assert isinstance(entry_id, bytes) and fields is not None
                millis, sequence = entry_id.decode().split("-")
                message_id = fields[b"message_id"]
                assert isinstance(message_id, bytes)
                received.append(
                    Received(
                        key.decode(),
                        (int(millis), int(sequence)),
                        json.loads(fields[b"data"]),
                        message_id.decode(),
                    )
                )
        return received
    finally:
        client.close()


# --- the tests -----------------------------------------------------------------------


@pytest.mark.slow
def test_killing_the_relay_at_random_points_loses_no_event_and_keeps_each_deal_in_order(
    store: Path, nats: NatsServer, tmp_path: Path
) -> None:
    head = expected_messages(store).head
    log = tmp_path / "relay.log"
    # Small pages, so a kill lands between the broker's acks and the stored position.
    killed_at = kill_at_random_points(
        store, nats.url, log, head, seed=20260302, batch_sizes=(50, 100, 200), most_pause=0.5
    )
    # On a fast machine the last relays may catch up before their kill; the test needs
    # at least one kill in mid-stream.
    assert min(killed_at) < head, f"every kill came after the relay caught up: {killed_at}"

    relay_once(store, nats.url, log, "--batch-size", "100")
    assert stored_position(store) == head
    again = relay_once(store, nats.url, tmp_path / "again.log")
    assert f"position {head:,} of {head:,} (0 behind), 0 published" in again

    received = read_jetstream(nats.url)
    assert_nothing_lost(received, expected_messages(store))
    assert_deduplicated_by_event_id(received)


WRITTEN_MEANWHILE = 7  # the events append_deal_events writes


def append_deal_events(store: Path) -> None:
    """New events for new deals and for a deal the relay has already published some of."""
    engine = build_engine(str(store), actor="tester")
    try:
        first_deal = min(engine.deal_keys())
        commands = [
            cmd(deal=first_deal, cmd="visit", effective=True, note="broker down"),
            *[cmd(deal=f"OUTAGE-{n}", cmd="open", policy="funnel-list") for n in range(3)],
            *[cmd(deal=f"OUTAGE-{n}", cmd="visit", effective=True) for n in range(3)],
        ]
        for command in commands:
            assert engine.execute(command).status == "applied"
    finally:
        engine.close()


def relay_through_a_restart(
    store: Path, server: PrivateServer, log: Path, *args: str, until_retried: bool
) -> tuple[Expected, int, str]:
    """Run a following relay, stop its broker once a quarter of the log is out, write
    events while it is down, start it again (after 1.5 s, or once the relay has reported
    it unavailable) and wait until the relay has caught up with everything. Returns what
    the store now translates to, the log head before the outage, and the relay's output."""
    head = expected_messages(store).head
    retry_line = f"broker {server.url} unavailable:"
    relay = RelayProcess(store, server.url, log, "--follow", "--poll", "0.05", *args)
    try:
        wait_for(
            lambda: stored_position(store) >= head // 4 or not relay.alive(),
            SETTLE_SECONDS,
            "a quarter of the log to be relayed",
        )
        time.sleep(0.05)  # into the next page, so publishes are in flight when it goes
        server.stop()
        down = time.monotonic()
        assert stored_position(store) < head, "the relay caught up before the broker went down"
        append_deal_events(store)
        if until_retried:
            wait_for(
                lambda: retry_line in relay.output() or not relay.alive(),
                SETTLE_SECONDS,
                "the relay to report the broker unavailable",
            )
        time.sleep(max(0.0, 1.5 - (time.monotonic() - down)))
        assert relay.alive(), relay.output()
        server.start()

        expected = expected_messages(store)
        assert expected.head == head + WRITTEN_MEANWHILE
        wait_for(
            lambda: stored_position(store) == expected.head or not relay.alive(),
            RECOVER_SECONDS,
            f"the relay to reach the log head {expected.head:,} after the restart",
        )
        assert relay.alive(), relay.output()
        # SIGTERM: a clean stop, caught up, told as a stop by a signal (128 + 15).
        assert relay.terminate() == 143, relay.output()
        assert f"of {expected.head:,} (0 behind)" in relay.output()
    finally:
        relay.kill()
    output = relay.output()
    if until_retried:
        assert retry_line in output, output
    return expected, head, output


def assert_written_meanwhile_arrived(
    received: list[Received], expected: Expected, head: int
) -> None:
    meanwhile = {i for i, body in expected.bodies.items() if body["position"] > head}
    assert len(meanwhile) == WRITTEN_MEANWHILE
    missing = meanwhile - {m.body["id"] for m in received}
    assert not missing, f"events written while the broker was down never arrived: {missing}"


OUTAGES = [
    pytest.param(False, id="down-1.5s"),
    # Down until the relay gives up on an acknowledgement (after 10 s) and says so: the
    # page is then retried from the store, rather than resent by the client's buffer.
    pytest.param(True, id="down-until-the-relay-reports-it"),
]


@pytest.mark.slow
@pytest.mark.parametrize("until_retried", OUTAGES)
def test_restarting_the_nats_server_mid_stream_loses_no_event_and_relays_those_written_meanwhile(
    store: Path, nats: NatsServer, tmp_path: Path, until_retried: bool
) -> None:
    expected, head, _ = relay_through_a_restart(
        store, nats, tmp_path / "relay.log", until_retried=until_retried
    )
    received = read_jetstream(nats.url)
    assert_nothing_lost(received, expected)
    assert_deduplicated_by_event_id(received)
    assert_written_meanwhile_arrived(received, expected, head)


@pytest.mark.slow
def test_restarting_the_redis_server_mid_stream_loses_no_event_and_relays_those_written_meanwhile(
    store: Path, redis_server: RedisServer, tmp_path: Path
) -> None:
    # Small pages: the outage falls in the middle of many.
    expected, head, _ = relay_through_a_restart(
        store, redis_server, tmp_path / "relay.log", "--batch-size", "100", until_retried=True
    )
    received = read_redis_streams(redis_server.url)
    assert_nothing_lost(received, expected)
    assert all(m.msg_id == m.body["id"] for m in received), "message_id is not the event id"
    # The page cut off by the outage went out again, and its events already added were
    # skipped: no event is in its stream twice.
    ids = [m.body["id"] for m in received]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} duplicates in the streams"
    assert_written_meanwhile_arrived(received, expected, head)


@pytest.mark.slow
def test_killing_a_redis_relay_at_random_points_adds_no_event_twice(
    store: Path, redis_server: RedisServer, tmp_path: Path
) -> None:
    head = expected_messages(store).head
    log = tmp_path / "relay.log"
    killed_at = kill_at_random_points(
        store, redis_server.url, log, head, seed=20260303, batch_sizes=(400,), most_pause=0.3
    )
    assert min(killed_at) < head, f"every kill came after the relay caught up: {killed_at}"
    relay_once(store, redis_server.url, log)
    # And everything again, from the first event: Redis refuses every copy.
    relay_once(store, redis_server.url, log, "--from-position", "1")
    received = read_redis_streams(redis_server.url)
    assert_nothing_lost(received, expected_messages(store))
    ids = [m.body["id"] for m in received]
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} duplicates in the streams"
