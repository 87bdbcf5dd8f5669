"""Relay benchmark: integration events onto NATS JetStream, against plain nats-py.

    python bench/relay.py                          # 20k deals (~210k events), 15 s at 1k/s
    python bench/relay.py --deals 5000 --duration 5
    python bench/relay.py --nats nats://127.0.0.1:4222   # a running server (see below)

Three phases, all on one JetStream server:

- throughput: a copy of the generated store of bench/projections.py (seeded, realistic
  deal histories, cached in bench/.data/) is relayed once from position 1 with
  ``Relay(...).run(follow=False)`` into a fresh ``SALESENGINE`` stream; the relay's
  messages are then read back from the stream, counted against the store, and checked
  to be in version order per deal;
- the baseline: the very same messages (bodies, subjects under ``benchraw.``, headers
  with their ``Nats-Msg-Id``) published with plain nats-py ``js.publish`` into a fresh
  ``BENCHRAW`` stream of the same configuration, page by page as the relay pages the
  log, each deal's next message sent only once the previous one is acknowledged and
  the deals of a page concurrently; then once more with a whole page in flight at once
  (no per-deal order), an upper bound;
- end-to-end latency: a writer process executes commands of one event each (deals
  opened, visits logged, next steps set) at a steady ``--rate`` for ``--duration``
  seconds; ``salesengine relay`` tails the log in its own process (``--poll``), and a
  plain nats-py ordered consumer, started at new messages only, notes each message's
  arrival. A message's latency is its arrival less the wall-clock time just before the
  command that produced it was executed (matched by deal key and version); arrival less
  the message's ``recorded_at`` is shown too.

By default the benchmark starts a private ``nats-server -js`` on a free port, with its
own storage, and stops it at the end: every phase deletes and re-creates the streams it
uses, and a shared server's ``SALESENGINE`` stream may have other publishers and
consumers. ``--nats URL`` uses a running server instead; its ``SALESENGINE`` and
``BENCHRAW`` streams are deleted before the phases and at the end. SQLite stores live in
a temporary directory (in bench/.data/ with ``--keep``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from multiprocessing import get_context
from pathlib import Path
from time import perf_counter
from typing import Any
from uuid import UUID

import nats
import orjson
from eventsourcing.utils import get_topic
from harness import DATA_DIR, remove_sqlite, status, stop, work_dir, yes
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy, StreamConfig
from nats.js.errors import NotFoundError

from projections import ensure_store
from salesengine.application.commands import Command, parse_command
from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.domain.deal import Deal, DealEvent
from salesengine.integration.contract import PREFIX
from salesengine.integration.relay import Relay, RelayOptions, RelayProgress
from salesengine.integration.translate import PUBLISHED, TOPICS, Translator
from salesengine.integration.transports import (
    ACK_TIMEOUT,
    STREAM_NAME,
    broker_transport,
    parse_broker_url,
)
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine

DEFAULT_DEALS = 20_000
DEFAULT_SEED = 20240701  # the seed of bench/projections.py: its cached stores are shared
NATS_SERVER = "/usr/sbin/nats-server"
RELAY_STREAM = STREAM_NAME
RAW_STREAM = "BENCHRAW"
RAW_PREFIX = "benchraw"
DEAL_SUBJECTS = f"{PREFIX}.deal.>"

# Targets of the relay.
RATE_TARGET = 10_000.0  # msgs/s, relaying history to NATS JetStream
P99_TARGET_MS = 100.0  # end to end at 1,000 events/s

# The latency writer: deals in turn, each opened, then visits and next steps.
EVENTS_PER_DEAL = 10
SLOTS = 50  # deals written at once, their events interleaved


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PrivateNats:
    """``nats-server -js`` on a free port with its own storage, stopped on exit."""

    def __init__(self) -> None:
        binary = NATS_SERVER if os.access(NATS_SERVER, os.X_OK) else shutil.which("nats-server")
        if binary is None:
            raise SystemExit("nats-server is not installed: pass --nats URL of a running server")
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="salesengine-bench-nats-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def __enter__(self) -> PrivateNats:
        command = [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js"]
        command += ["-sd", str(self.dir / "jetstream"), "-l", str(self.dir / "server.log")]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        deadline = perf_counter() + 30
        while perf_counter() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"nats-server exited; see {self.dir / 'server.log'}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1) as s,
            ):
                if s.recv(4).startswith(b"INFO"):
                    return self
            time.sleep(0.05)
        self.__exit__()
        raise SystemExit(f"nats-server did not come up on port {self.port}")

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            stop(self.process)
        shutil.rmtree(self.dir, ignore_errors=True)


async def connect(url: str) -> tuple[Client, JetStreamContext]:
    client = await nats.connect(url, connect_timeout=5, allow_reconnect=False)
    return client, client.jetstream()


async def delete_streams(url: str, *names: str) -> None:
    client, js = await connect(url)
    try:
        for name in names:
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(name)
    finally:
        await client.close()


async def server_version(url: str) -> str:
    client, _ = await connect(url)
    try:
        found = client.connected_server_version
        return f"{found.major}.{found.minor}.{found.patch}"
    finally:
        await client.close()


# --------------------------------------------------------------------------- throughput


@dataclass(frozen=True, slots=True)
class Run:
    path: str
    messages: int
    seconds: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


@dataclass(frozen=True, slots=True)
class Payload:
    """One relayed message as the stream holds it, ready to publish again."""

    subject: str
    body: bytes
    headers: dict[str, str]
    deal_id: str
    version: int
    position: int


@dataclass(frozen=True, slots=True)
class Relayed:
    run: Run
    progress: RelayProgress
    history_reads: int
    history_seconds: float


@dataclass(frozen=True, slots=True)
class StoreCounts:
    log: int  # events in the store
    read: int  # of the kinds the relay reads
    published: int  # of the kinds it publishes


def copy_store(source: str, target: Path) -> None:
    """A private copy of a cached store: the relay adds its position table to it."""
    remove_sqlite(target)
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def count_store(db: Path, engine: SalesEngine) -> StoreCounts:
    def topics(names: tuple[str, ...]) -> list[str]:
        return [get_topic(getattr(Deal, name)) for name in names]

    recorder: Any = engine.recorder
    table = recorder.events_table_name
    conn = sqlite3.connect(db)
    try:

        def count(where: list[str] | None) -> int:
            query = f"SELECT count(*) FROM {table}"
            if where is None:
                return int(conn.execute(query).fetchone()[0])
            query += f" WHERE topic IN ({','.join('?' * len(where))})"
            return int(conn.execute(query, where).fetchone()[0])

        return StoreCounts(count(None), count(topics(TOPICS)), count(topics(PUBLISHED)))
    finally:
        conn.close()


def relay_history(db: Path, url: str, batch_size: int) -> Relayed:
    """``Relay.run(follow=False)`` from position 1 into a fresh stream, timed."""
    asyncio.run(delete_streams(url, RELAY_STREAM))
    engine = build_engine(str(db), actor="bench")
    sql = sql_engine(store_settings(str(db)))
    try:

        def progress(p: RelayProgress) -> None:
            status(f"  position {p.position:,} of {p.head:,}, {p.published:,} published")

        def retry(reason: str, delay: float) -> None:
            status(f"  broker unavailable: {reason}; retrying in {delay:.1f} s")

        relay = Relay(
            engine,
            sql,
            broker_transport(parse_broker_url(url)),
            RelayOptions(name="bench-throughput", batch_size=batch_size, report_seconds=5.0),
            on_progress=progress,
            on_retry=retry,
        )
        reads = count_history_reads(relay.translator)
        started = perf_counter()
        done = asyncio.run(relay.run(follow=False, from_position=1))
        seconds = perf_counter() - started
    finally:
        sql.dispose()
        engine.close()
    run = Run("Relay.run(follow=False)", done.published, seconds)
    return Relayed(run, done, reads.calls, reads.seconds)


@dataclass(slots=True)
class HistoryReads:
    calls: int = 0
    seconds: float = 0.0


def count_history_reads(translator: Translator) -> HistoryReads:
    """Counts (and times) the translator's reads of a deal's earlier events from the store."""
    reads = HistoryReads()
    load = translator.history

    def counted(originator_id: UUID, version: int) -> list[DealEvent]:
        started = perf_counter()
        try:
            return load(originator_id, version)
        finally:
            reads.calls += 1
            reads.seconds += perf_counter() - started

    translator.history = counted
    return reads


async def read_stream(url: str, stream: str, subject: str) -> list[Payload]:
    """Every message of the stream, in stream order, through an ordered consumer."""
    client, js = await connect(url)
    try:
        expected = (await js.stream_info(stream)).state.messages
        got: list[Msg] = []

        async def keep(msg: Msg) -> None:
            got.append(msg)

        sub = await js.subscribe(
            subject,
            stream=stream,
            cb=keep,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
        )
        try:
            await until_count(lambda: len(got), expected)
        finally:
            await sub.unsubscribe()
    finally:
        await client.close()
    payloads = []
    for msg in got:
        body = orjson.loads(msg.data)
        headers = dict(msg.headers or {})
        headers.pop("Nats-Expected-Stream", None)  # js.publish sets it for its own stream
        payloads.append(
            Payload(
                msg.subject, msg.data, headers, body["deal_id"], body["version"], body["position"]
            )
        )
    return payloads


async def until_count(count: Callable[[], int], expected: int, quiet: float = 10.0) -> None:
    """Until ``count()`` reaches ``expected``, or has not moved for ``quiet`` seconds."""
    seen, since = count(), perf_counter()
    while (now := count()) < expected:
        if now != seen:
            seen, since = now, perf_counter()
        elif perf_counter() - since > quiet:
            return
        await asyncio.sleep(0.05)


def out_of_order(payloads: list[Payload]) -> int:
    """Messages whose version is not above the previous one of the same deal."""
    last: dict[str, int] = {}
    wrong = 0
    for p in payloads:
        if p.version <= last.get(p.deal_id, 0):
            wrong += 1
        last[p.deal_id] = p.version
    return wrong


def pages_of(payloads: list[Payload], batch_size: int) -> list[list[list[Payload]]]:
    """The relay's pages of ``batch_size`` log positions, each as chains per deal, with
    subjects moved under the baseline's own prefix."""
    pages: dict[int, dict[str, list[Payload]]] = {}
    for p in sorted(payloads, key=lambda p: p.position):
        subject = RAW_PREFIX + p.subject.removeprefix(PREFIX)
        moved = Payload(subject, p.body, p.headers, p.deal_id, p.version, p.position)
        page = pages.setdefault((p.position - 1) // batch_size, {})
        page.setdefault(p.deal_id, []).append(moved)
    return [list(chains.values()) for _, chains in sorted(pages.items())]


async def publish_raw(
    url: str, config: StreamConfig, pages: list[list[list[Payload]]], *, ordered: bool
) -> Run:
    """Plain ``js.publish`` of the pages into a fresh stream: per-deal chains, or all at once."""
    client, js = await connect(url)

    async def send(p: Payload) -> None:
        await js.publish(
            p.subject, p.body, timeout=ACK_TIMEOUT, stream=RAW_STREAM, headers=p.headers
        )

    async def chain(payloads: list[Payload]) -> None:
        for p in payloads:
            await send(p)

    try:
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(RAW_STREAM)
        await js.add_stream(
            config.evolve(
                name=RAW_STREAM,
                subjects=[f"{RAW_PREFIX}.>"],
                description="bench/relay.py baseline",
            )
        )
        started = perf_counter()
        for page in pages:
            if ordered:
                await asyncio.gather(*(chain(c) for c in page))
            else:
                await asyncio.gather(*(send(p) for c in page for p in c))
        seconds = perf_counter() - started
        stored = (await js.stream_info(RAW_STREAM)).state.messages
        await js.delete_stream(RAW_STREAM)
    finally:
        await client.close()
    if ordered:
        return Run("raw nats-py js.publish, per-deal chains", stored, seconds)
    return Run("raw nats-py js.publish, whole page at once", stored, seconds, "no per-deal order")


@dataclass(frozen=True, slots=True)
class Throughput:
    counts: StoreCounts
    relayed: Relayed
    in_stream: int
    disordered: int
    duplicates: int
    runs: list[Run]


def throughput(db: Path, url: str, batch_size: int) -> Throughput:
    engine = build_engine(str(db), actor="bench")
    try:
        counts = count_store(db, engine)
    finally:
        engine.close()
    status(f"relay: {counts.log:,} events from position 1 into {RELAY_STREAM} ...")
    relayed = relay_history(db, url, batch_size)
    status(f"  {relayed.run.rate:,.0f} msgs/s")
    status(f"reading {RELAY_STREAM} back ...")

    async def fetch() -> tuple[list[Payload], StreamConfig]:
        client, js = await connect(url)
        try:
            config = (await js.stream_info(RELAY_STREAM)).config
        finally:
            await client.close()
        return await read_stream(url, RELAY_STREAM, f"{PREFIX}.>"), config

    payloads, config = asyncio.run(fetch())
    duplicates = len(payloads) - len({p.headers.get("Nats-Msg-Id") for p in payloads})
    pages = pages_of(payloads, batch_size)
    runs = [relayed.run]
    for ordered in (True, False):
        how = "per-deal chains" if ordered else "whole pages at once"
        status(f"raw nats-py: {len(payloads):,} messages, {how} ...")
        runs.append(asyncio.run(publish_raw(url, config, pages, ordered=ordered)))
        status(f"  {runs[-1].rate:,.0f} msgs/s")
    asyncio.run(delete_streams(url, RELAY_STREAM))
    return Throughput(counts, relayed, len(payloads), out_of_order(payloads), duplicates, runs)


# --------------------------------------------------------------------------- latency


@dataclass(slots=True)
class Written:
    """What the writer did: (deal, version, wall clock before execute, execute seconds)."""

    events: list[tuple[str, int, float, float]] = field(default_factory=list)
    refused: int = 0
    extra: int = 0  # applied commands outside the schedule (the warm-up)
    seconds: float = 0.0
    max_lag: float = 0.0  # how far the writer fell behind its schedule, in seconds

    @property
    def rate(self) -> float:
        return len(self.events) / self.seconds if self.seconds else 0.0


def writer_commands(token: str, count: int) -> list[Command]:
    """``count`` commands of one event each: ``SLOTS`` deals at a time, each opened, then
    logged visits and next steps, then replaced by a new deal."""
    due = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    commands = []
    for i in range(count):
        slot, turn = i % SLOTS, i // SLOTS
        deal = f"lat-{token}-{(turn // EVENTS_PER_DEAL) * SLOTS + slot:06d}"
        step = turn % EVENTS_PER_DEAL
        fields: dict[str, Any]
        if step == 0:
            fields = {"cmd": "open", "policy": "funnel-list", "amount": 10_000 + i}
        elif step % 2:
            fields = {"cmd": "visit", "kind": "phone", "note": f"call {step}"}
        else:
            fields = {"cmd": "next_step", "action": f"follow up {step}", "due": due}
        commands.append(parse_command({"deal": deal, **fields}))
    return commands


def write_steadily(db: str, token: str, rate: float, seconds: float) -> Written:
    """Runs in its own process: one command every 1/rate seconds, each timed."""
    commands = writer_commands(token, round(rate * seconds))
    written = Written()
    engine = build_engine(db, actor="bench")
    try:
        # Warms the engine up (the first command of a process is slow); relayed too.
        engine.execute(parse_command({"cmd": "visit", "deal": "warmup", "kind": "phone"}))
        written.extra = 1
        began = perf_counter() + 0.1
        for i, command in enumerate(commands):
            due = began + i / rate
            now = perf_counter()
            if due > now:
                time.sleep(due - now)
            else:
                written.max_lag = max(written.max_lag, now - due)
            before = time.time()
            started = perf_counter()
            result = engine.execute(command)
            took = perf_counter() - started
            if result.status != "applied" or result.version is None:
                written.refused += 1
                continue
            written.events.append((result.deal, result.version, before, took))
        written.seconds = perf_counter() - began
    finally:
        engine.close()
    return written


@dataclass(frozen=True, slots=True)
class Latency:
    written: Written
    received: int
    matched: int
    disordered: int
    from_execute: list[float]  # ms, sorted
    from_recorded: list[float]  # ms, sorted
    execute: list[float]  # ms, sorted
    slow: list[int]  # the seconds of the run (from its first write) with a message over target
    relay_exit: int | None


def quantile(values: list[float], q: float) -> float:
    """Nearest rank of sorted values."""
    if not values:
        return math.nan
    return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))]


def start_relay(db: Path, url: str, poll: float, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "salesengine", "--db", str(db), "relay", "--broker", url]
    command += ["--name", "bench-latency", "--from-position", "1", "--poll", str(poll)]
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


def stop_relay(process: subprocess.Popen[bytes]) -> int | None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return None
    return process.returncode


async def wait_for_stream(url: str, relay: subprocess.Popen[bytes], log: Path) -> None:
    """Until the relay has declared its stream and published the warm-up event."""
    client, js = await connect(url)
    try:
        deadline = perf_counter() + 60
        while perf_counter() < deadline:
            if relay.poll() is not None:
                raise SystemExit(f"the relay exited with {relay.returncode}; see {log}")
            with contextlib.suppress(NotFoundError):
                if (await js.stream_info(RELAY_STREAM)).state.messages:
                    return
            await asyncio.sleep(0.1)
        raise SystemExit(f"the relay published nothing within 60 s; see {log}")
    finally:
        await client.close()


async def measure_latency(
    db: Path, url: str, rate: float, seconds: float, poll: float, workdir: Path
) -> Latency:
    token = f"{os.getpid()}"
    log = workdir / "relay-latency.log"
    relay = start_relay(db, url, poll, log)
    arrivals: list[tuple[float, bytes]] = []
    try:
        await wait_for_stream(url, relay, log)
        client, js = await connect(url)
        try:

            async def note(msg: Msg) -> None:
                arrivals.append((time.time(), msg.data))

            sub = await js.subscribe(
                DEAL_SUBJECTS,
                stream=RELAY_STREAM,
                cb=note,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.NEW,
            )
            status(f"latency: writing {rate:,.0f} events/s for {seconds:g} s ...")
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                job = pool.submit(write_steadily, str(db), token, rate, seconds)
                written = await asyncio.wrap_future(job)
            expected = len(written.events) + written.extra
            status(f"  {len(written.events):,} written; waiting for {expected:,} messages ...")
            await until_count(lambda: len(arrivals), expected)
            await sub.unsubscribe()
        finally:
            await client.close()
    finally:
        relay_exit = stop_relay(relay)
    return match(written, arrivals, token, relay_exit)


def match(
    written: Written, arrivals: list[tuple[float, bytes]], token: str, relay_exit: int | None
) -> Latency:
    sent = {(deal, version): before for deal, version, before, _ in written.events}
    from_execute, from_recorded = [], []
    last: dict[str, int] = {}
    disordered = 0
    first = min(sent.values(), default=0.0)
    slow: set[int] = set()
    for arrived, data in arrivals:
        body = orjson.loads(data)
        deal, version = body["deal"], body["version"]
        if not deal.startswith(f"lat-{token}-"):
            continue
        if version <= last.get(deal, 0):
            disordered += 1
        last[deal] = version
        before = sent.pop((deal, version), None)
        if before is None:
            continue
        from_execute.append((arrived - before) * 1000)
        if from_execute[-1] > P99_TARGET_MS:
            slow.add(int(before - first))
        recorded = datetime.fromisoformat(body["recorded_at"]).timestamp()
        from_recorded.append((arrived - recorded) * 1000)
    execute = sorted(took * 1000 for _, _, _, took in written.events)
    return Latency(
        written,
        len(arrivals),
        len(from_execute),
        disordered,
        sorted(from_execute),
        sorted(from_recorded),
        execute,
        sorted(slow),
        relay_exit,
    )


def latency(db: Path, url: str, rate: float, seconds: float, poll: float, workdir: Path) -> Latency:
    remove_sqlite(db)
    asyncio.run(delete_streams(url, RELAY_STREAM))
    engine = build_engine(str(db), actor="bench")
    try:  # the relay connects, and declares its stream, once the log holds an event
        engine.execute(parse_command({"cmd": "open", "deal": "warmup", "policy": "funnel-list"}))
    finally:
        engine.close()
    try:
        return asyncio.run(measure_latency(db, url, rate, seconds, poll, workdir))
    finally:
        asyncio.run(delete_streams(url, RELAY_STREAM))


# --------------------------------------------------------------------------- report


def throughput_lines(t: Throughput, batch_size: int) -> Iterator[str]:
    c, r = t.counts, t.relayed
    yield (
        f"store: {c.log:,} events in the log; {c.read:,} of the kinds the relay reads, "
        f"{c.published:,} of the kinds it publishes; pages of {batch_size:,} log positions"
    )
    yield (
        f"relay: {r.progress.published:,} messages published (acknowledged), "
        f"position {r.progress.position:,} of {r.progress.head:,}; {RELAY_STREAM} holds "
        f"{t.in_stream:,} ({t.duplicates:,} duplicate ids, {t.disordered:,} out of version "
        "order per deal)"
    )
    yield (
        f"relay: {r.history_reads:,} reads of a deal's earlier events from the store "
        f"while translating, {r.history_seconds:,.1f} s of the run"
    )
    yield ""
    raw = next(run.rate for run in t.runs if "chains" in run.path)
    width = max(len(run.path) for run in t.runs)
    yield f"{'path':<{width}} {'messages':>9} {'seconds':>8} {'msgs/s':>8} {'vs raw':>7}"
    for run in t.runs:
        note = f"  ({run.note})" if run.note else ""
        yield (
            f"{run.path:<{width}} {run.messages:>9,} {run.seconds:>8.2f} {run.rate:>8,.0f} "
            f"{run.rate / raw:>6.2f}x{note}"
        )


def ms(values: list[float]) -> str:
    parts = [f"p{round(q * 100)} {quantile(values, q):,.1f}" for q in (0.5, 0.95, 0.99)]
    return ", ".join([*parts, f"max {max(values, default=math.nan):,.1f} ms"])


def latency_lines(lat: Latency, rate: float, seconds: float, poll: float) -> Iterator[str]:
    w = lat.written
    yield (
        f"latency: writer asked for {rate:,.0f} events/s for {seconds:g} s; it wrote "
        f"{len(w.events):,} events ({w.refused:,} refused) in {w.seconds:.2f} s, "
        f"{w.rate:,.1f} events/s, at most {w.max_lag * 1000:,.1f} ms behind its schedule"
    )
    yield (
        f"latency: relay process polling every {poll:g} s; {lat.received:,} messages "
        f"received, {lat.matched:,} matched to a write, {lat.disordered:,} out of version "
        f"order per deal; relay exit code {lat.relay_exit}"
    )
    yield f"  from before execute to arrival: {ms(lat.from_execute)} (n={lat.matched:,})"
    yield f"  from recorded_at to arrival:    {ms(lat.from_recorded)}"
    yield f"  engine.execute itself:          {ms(lat.execute)}"
    over = sum(1 for v in lat.from_execute if v > P99_TARGET_MS)
    where = f", written in second(s) {spans(lat.slow)} of the run" if lat.slow else ""
    yield f"  over {P99_TARGET_MS:,.0f} ms: {over:,} messages{where}"


def spans(seconds: list[int]) -> str:
    """Sorted integers as ranges: 0-2, 7, 9-10."""
    runs: list[list[int]] = []
    for s in seconds:
        if runs and s == runs[-1][1] + 1:
            runs[-1][1] = s
        else:
            runs.append([s, s])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def verdicts(t: Throughput | None, lat: Latency | None) -> Iterator[str]:
    if t is not None:
        relay, raw = t.runs[0], t.runs[1]
        yield (
            f"relay throughput {relay.rate:,.0f} msgs/s (target >= {RATE_TARGET:,.0f}: "
            f"{yes(relay.rate >= RATE_TARGET)}); relay / raw nats-py (per-deal chains) = "
            f"{relay.rate / raw.rate:.2f}x"
        )
    if lat is not None:
        p99 = quantile(lat.from_execute, 0.99)
        complete = lat.matched == len(lat.written.events)
        yield (
            f"end-to-end p99 {p99:,.1f} ms at {lat.written.rate:,.0f} events/s "
            f"(target <= {P99_TARGET_MS:,.0f} ms: {yes(complete and p99 <= P99_TARGET_MS)})"
            + ("" if complete else f"; only {lat.matched:,} of {len(lat.written.events):,} arrived")
        )


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--deals", type=int, default=DEFAULT_DEALS, help="deals in the relayed store (%(default)s)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--workers", type=int, default=2, help="processes generating the store")
    parser.add_argument(
        "--regenerate", action="store_true", help=f"generate the store in {DATA_DIR} anew"
    )
    parser.add_argument("--batch-size", type=int, default=1000, help="log positions per page")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s the writer issues")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds the writer writes")
    parser.add_argument("--poll", type=float, default=0.01, help="the tailing relay's --poll")
    parser.add_argument(
        "--nats",
        metavar="URL",
        help="a running JetStream server (its SALESENGINE and BENCHRAW streams are deleted); "
        "default: a private nats-server on a free port",
    )
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--keep", action="store_true", help=f"keep the SQLite stores in {DATA_DIR}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = perf_counter()
    with work_dir(keep=args.keep) as workdir, contextlib.ExitStack() as stack:
        if args.nats:
            url = args.nats
            where = f"{url} (running)"
        else:
            server = stack.enter_context(PrivateNats())
            url = server.url
            where = f"private nats-server on {url}"
        stack.callback(lambda: asyncio.run(delete_streams(url, RELAY_STREAM, RAW_STREAM)))
        run(args, url, where, workdir)
    print(f"wall time of this run: {perf_counter() - began:,.0f} s")
    return 0


def run(args: argparse.Namespace, url: str, where: str, workdir: Path) -> None:
    t: Throughput | None = None
    lat: Latency | None = None
    lines = [
        f"versions: Python {platform.python_version()}, nats-py {version('nats-py')}, "
        f"faststream {version('faststream')}, pydantic {version('pydantic')}, "
        f"SQLite {sqlite3.sqlite_version}, NATS server {asyncio.run(server_version(url))} "
        f"({where}); {os.cpu_count()} CPUs"
    ]
    if not args.skip_throughput:
        info = ensure_store(args.deals, args.seed, args.workers, regenerate=args.regenerate)
        db = workdir / "relay-throughput.db"
        copy_store(info.path, db)
        lines.append(f"throughput store: {info.deals:,} deals, seed {info.seed}")
        t = throughput(db, url, args.batch_size)
        lines += throughput_lines(t, args.batch_size)
    if not args.skip_latency:
        db = workdir / "relay-latency.db"
        lat = latency(db, url, args.rate, args.duration, args.poll, workdir)
        lines += ["", *latency_lines(lat, args.rate, args.duration, args.poll)]
    print("\n".join(lines))
    print()
    print("\n".join(verdicts(t, lat)))


if __name__ == "__main__":
    sys.exit(main())
