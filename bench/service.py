"""Service benchmark: commands and the funnel through the HTTP API, against the engine in process.

    python bench/service.py                        # 100k deals for the funnel, ~10 min
    python bench/service.py --quick                # 5k deals, fewer requests, ~3 min
    python bench/service.py --store sqlite --pg-workers 2 --requests 600

``salesengine serve`` runs as a subprocess on a free port, on a fresh store: the SQLite
default (one process) and a PostgreSQL schema with each of ``--pg-workers`` server
processes. A token is made for it, the server is ready once every worker has started and
``GET /api/v1/status`` answers, and it is stopped with SIGINT at the end of its phase.

- Commands: ``--requests`` single-command ``POST /api/v1/commands`` with 1, 8 and 32
  concurrent clients (keep-alive HTTP/1.1 on asyncio streams, ``http_load.py``, one
  connection per client),
  each client opening its own deals and logging two visits on each, one request at a
  time: fair commands, all of them meant to be accepted. Requests per second over the
  level and p50/p99 of each request. The baseline, in the same run: the very same kind
  and number of commands through ``SalesEngine.execute`` in this process, one thread, on
  a fresh store of the same kind (the command already parsed; only ``execute`` timed).
  The ratio API / in-process is the figure.
- Exactly once: after the server stops, the store's events are read back and every
  command id counted: each command acknowledged with 200 must be stored exactly once,
  each deal acknowledged as opened must exist, and nothing refused may be stored.
- Funnel: the generated store of bench/projections.py (``--deals``, cached in
  bench/.data/) copied (SQLite) or COPYed (PostgreSQL, a fresh schema), its read models
  built by ``salesengine project`` (PostgreSQL then analyzed, as bench/projections.py
  does), served, and ``GET /api/v1/reports/funnel?as_of=T&known_at=K`` timed at random
  (T, K) pairs: idle, then while writers open deals and log visits through the API at a
  steady ``--rate`` commands/s (target: p95 at most 100 ms under writes, the writers
  keeping their rate). Under writers the funnel is read twice, each time with new
  writers (``--read-rates``): by a dashboard-like reader at a steady rate, its latency
  counted from when each request was due (a late request's wait is in its figure), and
  by a reader back to back, which keeps a server process busy. Baseline: the same funnel
  called in process (``reports.funnel.funnel``) on one warm connection.

The load runs in this process on the same two cores as the server: the figures include
the client's share of the CPU, for the API runs and never for the in-process baseline.
The client is kept cheap for that reason (httpx spent about 2 ms of CPU a request, half
the server's), and the report prints what it spent per request. The funnel's reader
runs in a process of its own, so that its timing never includes the writers' turns in
a shared event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from time import perf_counter
from typing import Any

import funnel_reader
import httpx
import orjson
import psycopg
from harness import (
    drop_schemas,
    parser_with_stores,
    postgres_version,
    remove_sqlite,
    status,
    with_schema,
    without_query,
    work_dir,
    yes,
)
from http_load import Connection, TransportError, connected
from psycopg import sql
from relay import copy_store, free_port, quantile

from projections import (
    StoreInfo,
    analyze,
    at,
    copy_to_postgres,
    ensure_store,
    funnel_latency,
    instants,
)
from salesengine.access.roles import Role
from salesengine.access.tokens import TokenStore
from salesengine.application.commands import parse_command
from salesengine.bootstrap import build_engine
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine

DEFAULT_DEALS = 100_000
QUICK_DEALS = 5_000
DEFAULT_SEED = 20240701  # the seed of bench/projections.py: its cached stores are shared
CLIENTS = (1, 8, 32)
FULL_REQUESTS = 1_500  # single-command requests per concurrency level
QUICK_REQUESTS = 300
WARM_UP = 48  # requests before the first timed level: connections, caches, JIT-less warmth
VISITS_PER_DEAL = 2  # each deal: opened, then this many visits

FUNNEL_P95_TARGET_MS = 100.0
KEPT_RATE = 0.98  # writers at this share of the rate asked, or more, kept it
FUNNEL_PAIRS = 200  # (T, K) pairs, timed in process and through the idle API
WRITE_RATE = 200.0  # commands/s while the funnel is timed
# Writers, each one command at a time, together at the rate: each is asked for a command
# every WRITE_LANES / rate seconds (160 ms at 200/s), so the rate is reached as long as
# a write answers within that. 16 writers (80 ms each) capped the rate below the one
# asked on a busy run, which then measured fewer writes, not the funnel under them.
WRITE_LANES = 32
FULL_DURATION = 60.0
QUICK_DURATION = 15.0

API = "/api/v1"
TEAMS = (("east", "shanghai"), ("north", "beijing"), ("south", "shenzhen"), ("emea", "berlin"))
OWNERS = ("li.wei", "wang.fang", "zhang.min", "chen.jie", "anna.berg", "tom.hale", "sara.ng")
KINDS = ("face_to_face", "phone", "video", "demo")
NOTES = (
    "walked through the pilot with IT",
    "拜访客户信息中心，讨论二期需求",
    "asked for a price list",
)


# --------------------------------------------------------------------------- commands


def deal_commands(key: str, n: int) -> Iterator[dict[str, Any]]:
    """One deal's commands: opened, then visits; ids unique across the run."""
    team, region = TEAMS[n % len(TEAMS)]
    yield {
        "id": f"{key}/0",
        "cmd": "open",
        "deal": key,
        "policy": "funnel-list",
        "account": f"Account {n % 20_000:05d}",
        "owner": OWNERS[n % len(OWNERS)],
        "team": team,
        "region": region,
        "amount": 10_000 + (n * 7_919) % 4_990_000,
    }
    for v in range(1, VISITS_PER_DEAL + 1):
        yield {
            "id": f"{key}/{v}",
            "cmd": "visit",
            "deal": key,
            "kind": KINDS[(n + v) % len(KINDS)],
            "effective": v % 2 == 0,
            "attendees": [OWNERS[(n + v) % len(OWNERS)]],
            "note": NOTES[(n + v) % len(NOTES)],
        }


def lane_commands(prefix: str, lane: int, count: int) -> list[dict[str, Any]]:
    """``count`` commands of one client, over deals of its own (so none waits on another)."""
    commands: list[dict[str, Any]] = []
    n = 0
    while len(commands) < count:
        commands += deal_commands(f"{prefix}-{lane:02d}-{n:05d}", lane * 100_000 + n)
        n += 1
    return commands[:count]


# --------------------------------------------------------------------------- the server


def make_token(db: str) -> str:
    sql_ = sql_engine(store_settings(db))
    try:
        return TokenStore(sql_).create("bench", Role.ADMIN).text
    finally:
        sql_.dispose()


def new_store(db: str) -> str:
    """A fresh store (its tables made as the engine makes them) and an admin token for it."""
    build_engine(db, actor="bench").close()
    return make_token(db)


@dataclass
class Server:
    """``salesengine serve`` on a free port, ready once every worker has started."""

    db: str
    workers: int
    token: str
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    exit_code: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        command = [sys.executable, "-m", "salesengine", "--db", self.db, "serve"]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", str(self.workers)]
        with self.log.open("wb") as out:
            # A session of its own: a Ctrl-C in the terminal reaches the benchmark only,
            # which then stops the server as it always does.
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            self._wait_ready(timeout=300)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = perf_counter() + timeout
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=5) as client:
            while perf_counter() < deadline:
                if self.process.poll() is not None:
                    raise SystemExit(f"salesengine serve exited:\n{self.tail()}")
                started = self.log.read_text(errors="replace").count("Application startup complete")
                if started >= self.workers:
                    with contextlib.suppress(httpx.TransportError):
                        if client.get(f"{API}/status").status_code == 200:
                            return
                time.sleep(0.1)
        raise SystemExit(f"salesengine serve not ready in {timeout:g} s:\n{self.tail()}")

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])

    def stop(self) -> None:
        if self.process is None or self.exit_code is not None:
            return
        self.process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
        try:
            self.exit_code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.exit_code = self.process.wait()
            status(f"  the server did not stop within 30 s of SIGINT: killed\n{self.tail()}")


# --------------------------------------------------------------------------- load


@dataclass
class Load:
    """What a run of requests got back."""

    clients: int
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # ms, of the 200 answers, sorted
    codes: Counter[str] = field(default_factory=Counter)  # "200", "409 code", "error Name"
    applied: set[str] = field(default_factory=set)  # command ids answered "applied"
    sent: set[str] = field(default_factory=set)  # every command id sent
    opened: set[str] = field(default_factory=set)  # deals answered "Opened"
    refused: list[str] = field(default_factory=list)  # the first few refusals, for the report
    client_cpu: float = 0.0  # CPU seconds the load's own process spent sending it

    @property
    def ok(self) -> int:
        return self.codes["200"]

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def merge(self, other: Load) -> None:
        self.latencies = sorted(self.latencies + other.latencies)
        self.codes.update(other.codes)
        self.applied |= other.applied
        self.sent |= other.sent
        self.opened |= other.opened
        self.refused += other.refused
        self.client_cpu += other.client_cpu


async def send(http: Connection, command: dict[str, Any], load: Load) -> None:
    load.sent.add(command["id"])
    started = perf_counter()
    try:
        answer = await http.post(f"{API}/commands", orjson.dumps(command))
    except TransportError as e:
        load.codes[f"error {type(e).__name__}"] += 1
        return
    elapsed = (perf_counter() - started) * 1000
    if answer.status != 200:
        code = answer.json().get("code", "?") if answer.body else "?"
        load.codes[f"{answer.status} {code}"] += 1
        if len(load.refused) < 5:
            load.refused.append(f"{command['id']}: {answer.status} {answer.body[:200]!r}")
        return
    load.codes["200"] += 1
    load.latencies.append(elapsed)
    (result,) = answer.json()["results"]
    if result["status"] == "applied":
        load.applied.add(command["id"])
        if result["event"] == "Opened":
            load.opened.add(command["deal"])


async def closed_loop(base: str, token: str, prefix: str, clients: int, requests: int) -> Load:
    """``clients`` clients, each on its own connection sending its share of ``requests``
    one after another."""
    load = Load(clients)
    lanes = [lane_commands(prefix, c, requests // clients) for c in range(clients)]

    async def lane(http: Connection, commands: list[dict[str, Any]]) -> None:
        for command in commands:
            await send(http, command, load)

    async with connected(base, token, clients) as connections:
        cpu = time.process_time()
        started = perf_counter()
        await asyncio.gather(*(lane(c, cmds) for c, cmds in zip(connections, lanes, strict=True)))
        load.seconds = perf_counter() - started
        load.client_cpu = time.process_time() - cpu
    load.latencies.sort()
    return load


@dataclass
class Steady:
    """The writers at a steady rate, and the funnel read meanwhile."""

    writes: Load
    max_lag: float  # seconds the writers fell behind their schedule, at most
    funnel: list[float]  # ms, sorted
    funnel_errors: Counter[str]
    behind: list[int]  # X-Read-Models-Behind of each funnel answer
    caught_up: float  # seconds after the writers stopped until the read models were current
    reader_cpu: float  # CPU seconds of the reader's process, per funnel request
    read_rate: float  # funnel requests/s asked of the reader; 0: back to back


async def steady(
    base: str,
    token: str,
    prefix: str,
    rate: float,
    seconds: float,
    pairs: list[dict[str, str]],
    lanes_count: int = WRITE_LANES,
    read_rate: float = 0.0,
) -> Steady:
    """``lanes_count`` writers in this process sending together ``rate`` commands/s for
    ``seconds``, one command at a time each (a deal's visits after its opening), each on
    its own connection; one reader in a process of its own asking for the funnel at
    ``pairs`` in turn, back to back or at ``read_rate`` a second, until the writers are
    done. Apart, so that neither one's client work delays the other's timing."""
    writes = Load(lanes_count)
    per_lane = int(rate * seconds / lanes_count)
    lanes = [lane_commands(prefix, c, per_lane) for c in range(lanes_count)]
    lag = [0.0]

    async def writer(http: Connection, lane: int, commands: list[dict[str, Any]]) -> None:
        for k, command in enumerate(commands):
            due = began + (lane + k * lanes_count) / rate
            wait = due - perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                lag[0] = max(lag[0], -wait)
            await send(http, command, writes)

    spawn = multiprocessing.get_context("spawn")
    done = spawn.Event()
    results = spawn.Queue()
    reading = spawn.Process(
        target=funnel_reader.run,
        args=(base, token, pairs, done, results, read_rate),
        daemon=True,
    )
    reading.start()
    try:
        async with connected(base, token, lanes_count) as connections:
            if not await asyncio.to_thread(results.get, True, 60):
                raise SystemExit("the funnel reader did not start")
            cpu = time.process_time()
            began = perf_counter()
            await asyncio.gather(
                *(writer(connections[c], c, commands) for c, commands in enumerate(lanes))
            )
            writes.seconds = perf_counter() - began
            writes.client_cpu = time.process_time() - cpu
    finally:
        done.set()
    read: funnel_reader.Read = await asyncio.to_thread(results.get, True, 120)
    reading.join(30)
    stopped = perf_counter()
    status_check = Connection(base, token)
    try:
        while True:
            answer = await status_check.get(f"{API}/status")
            if answer.status == 200 and answer.json()["behind"] == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        await status_check.close()
    caught_up = perf_counter() - stopped
    writes.latencies.sort()
    return Steady(
        writes,
        lag[0],
        sorted(read.latencies),
        read.errors,
        read.behind,
        caught_up,
        read.cpu / max(1, len(read.latencies)),
        read_rate,
    )


async def idle_funnel(base: str, token: str, pairs: list[dict[str, str]]) -> list[float]:
    samples: list[float] = []
    http = Connection(base, token)
    try:
        await http.get(f"{API}/reports/funnel", pairs[0])  # untimed: warms up
        for params in pairs:
            started = perf_counter()
            answer = await http.get(f"{API}/reports/funnel", params)
            if answer.status != 200:
                raise SystemExit(f"funnel: {answer.status} {answer.body[:300]!r}")
            samples.append((perf_counter() - started) * 1000)
    finally:
        await http.close()
    return sorted(samples)


# --------------------------------------------------------------------------- in process


def in_process(db: str, requests: int) -> Load:
    """The same commands through ``SalesEngine.execute``, one after another."""
    engine = build_engine(db, actor="bench")
    load = Load(0)
    commands = [
        parse_command(c | {"by": "bench"}) for c in lane_commands("inproc", 0, requests + WARM_UP)
    ]
    provenance = {"source": "api"}
    try:
        for command in commands[:WARM_UP]:
            engine.execute(command, provenance=provenance)
        began = perf_counter()
        for command in commands[WARM_UP:]:
            started = perf_counter()
            result = engine.execute(command, provenance=provenance)
            load.latencies.append((perf_counter() - started) * 1000)
            load.codes["200" if result.status == "applied" else result.status] += 1
        load.seconds = perf_counter() - began
    finally:
        engine.close()
    load.latencies.sort()
    return load


# --------------------------------------------------------------------------- exactly once


@dataclass(frozen=True, slots=True)
class Check:
    acknowledged: int  # command ids answered "applied"
    once: int  # of those, stored exactly once
    missing: int  # of those, not stored
    repeated: int  # stored more than once (any id the run sent)
    unacknowledged: int  # sent, not answered "applied", yet stored
    opened: int  # deals answered "Opened"
    deals: int  # of those, in the store

    @property
    def holds(self) -> bool:
        return (
            self.once == self.acknowledged
            and self.repeated == 0
            and self.unacknowledged == 0
            and self.deals == self.opened
        )


def stored_ids(db: str, after: int) -> tuple[Counter[str], set[str]]:
    """Command ids of the events after log position ``after``, and the deals opened there."""
    engine = build_engine(db, actor="bench", create=False)
    ids: Counter[str] = Counter()
    deals: set[str] = set()
    try:
        start = after + 1
        while True:
            page = engine.recorder.select_notifications(start, 5_000)
            for n in page:
                state = orjson.loads(n.state)
                if state.get("command_id") is not None:
                    ids[state["command_id"]] += 1
                if n.topic.endswith("Deal.Opened"):
                    deals.add(state["deal"])
            if len(page) < 5_000:
                break
            start = page[-1].id + 1
    finally:
        engine.close()
    return ids, deals


def check(db: str, load: Load, after: int = 0) -> Check:
    ids, deals = stored_ids(db, after)
    return Check(
        acknowledged=len(load.applied),
        once=sum(1 for i in load.applied if ids[i] == 1),
        missing=sum(1 for i in load.applied if ids[i] == 0),
        repeated=sum(1 for i in load.sent if ids[i] > 1),
        unacknowledged=sum(1 for i in load.sent - load.applied if ids[i] > 0),
        opened=len(load.opened),
        deals=len(load.opened & deals),
    )


def log_position(db: str) -> int:
    engine = build_engine(db, actor="bench", create=False)
    try:
        return engine.recorder.max_notification_id() or 0
    finally:
        engine.close()


# --------------------------------------------------------------------------- phases


@dataclass
class Level:
    label: str
    load: Load


@dataclass
class Commands:
    store: str  # "SQLite", "PostgreSQL"
    workers: int
    levels: list[Level]
    check: Check
    exit_code: int | None


@dataclass
class Funnel:
    store: str
    workers: int
    info: StoreInfo
    copy_seconds: float
    project_seconds: float
    in_process: list[float]
    idle: list[float]
    steadies: list[tuple[Steady, Check]]  # each reader's run under writers
    exit_code: int | None


def serve_commands(store: str, db: str, workers: int, requests: int, log: Path) -> Commands:
    token = new_store(db)
    levels: list[Level] = []
    with Server(db, workers, token, log) as server:
        status(f"{store}, {workers} worker(s): serving on {server.url}")
        total = asyncio.run(closed_loop(server.url, token, "warm", 8, WARM_UP))
        for clients in CLIENTS:
            load = asyncio.run(closed_loop(server.url, token, f"c{clients}", clients, requests))
            status(
                f"  {clients:>2} clients: {load.ok:,} ok in {load.seconds:.1f} s, "
                f"{load.rate:,.0f} req/s, p50 {quantile(load.latencies, 0.5):.1f} ms, "
                f"p99 {quantile(load.latencies, 0.99):.1f} ms"
            )
            levels.append(Level(f"{clients}", load))
            total.merge(load)
    found = check(db, total)
    return Commands(store, workers, levels, found, server.exit_code)


def run_project(db: str, log: Path) -> float:
    started = perf_counter()
    with log.open("ab") as out:
        subprocess.run(
            [sys.executable, "-m", "salesengine", "--db", db, "project"],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )
    return perf_counter() - started


def serve_funnel(
    store: str,
    db: str,
    workers: int,
    info: StoreInfo,
    copy_seconds: float,
    args: argparse.Namespace,
    log: Path,
) -> Funnel:
    status(f"{store}: salesengine project over {info.events:,} events ...")
    project_seconds = run_project(db, log.with_suffix(".project.log"))
    status(f"  {project_seconds:,.0f} s")
    if store == "PostgreSQL":
        analyze(db)
    token = make_token(db)
    raw = instants(info, FUNNEL_PAIRS, args.seed)
    pairs = [
        {"as_of": at(t).isoformat()} | ({} if k is None else {"known_at": at(k).isoformat()})
        for t, k in raw
    ]
    status(f"{store}: funnel in process at {len(raw)} (T, K) pairs ...")
    inproc, _, _ = funnel_latency(db, raw, info.effective[1], 30.0, 600.0)
    after = log_position(db)
    with Server(db, workers, token, log) as server:
        status(f"{store}, {workers} worker(s): funnel through the idle API ...")
        idle = asyncio.run(idle_funnel(server.url, token, pairs))
        status(f"  p95 {quantile(idle, 0.95):.1f} ms")
        runs: list[Steady] = []
        for n, read_rate in enumerate(args.read_rates):
            status(f"  with writers at {args.rate:g}/s and {reader_label(read_rate)} ...")
            under = asyncio.run(
                steady(
                    server.url,
                    token,
                    f"steady{n}",
                    args.rate,
                    args.duration,
                    pairs,
                    args.writers,
                    read_rate,
                )
            )
            status(
                f"  p95 {quantile(under.funnel, 0.95):.1f} ms, "
                f"writers at {under.writes.rate:,.1f}/s"
            )
            runs.append(under)
    steadies = [(under, check(db, under.writes, after)) for under in runs]
    return Funnel(
        store,
        workers,
        info,
        copy_seconds,
        project_seconds,
        sorted(inproc),
        idle,
        steadies,
        server.exit_code,
    )


# --------------------------------------------------------------------------- report


def ms(values: list[float]) -> str:
    return " ".join(f"{quantile(values, q):>7.1f}" for q in (0.5, 0.95, 0.99))


def command_lines(base: dict[str, Load], runs: list[Commands]) -> Iterator[str]:
    yield "single-command requests (each level its own commands; p50 p95 p99 in ms):"
    yield (
        f"  {'store':<11} {'path':<30} {'clients':>7} {'ok':>6} {'req/s':>7}"
        f" {'p50':>7} {'p95':>7} {'p99':>7} {'vs in-process':>13} {'client CPU/req':>14}"
    )
    for store, load in base.items():
        yield (
            f"  {store:<11} {'engine.execute, in process':<30} {1:>7} {load.ok:>6,}"
            f" {load.rate:>7,.0f} {ms(load.latencies)} {1:>12.2f}x"
        )
    for run in runs:
        rate = base[run.store].rate
        path = f"API, {run.workers} server worker{'s' if run.workers > 1 else ''}"
        for level in run.levels:
            load = level.load
            yield (
                f"  {run.store:<11} {path:<30} {level.label:>7} {load.ok:>6,}"
                f" {load.rate:>7,.0f} {ms(load.latencies)} {load.rate / rate:>12.2f}x"
                f" {load.client_cpu / max(1, len(load.sent)) * 1000:>11.2f} ms"
            )
    for run in runs:
        yield from check_lines(f"{run.store}, {run.workers} worker(s)", run, run.check)


def check_lines(
    label: str, run: Commands | Funnel, c: Check, writes: Load | None = None
) -> Iterator[str]:
    codes = Counter[str]() if writes is None else Counter(writes.codes)
    if isinstance(run, Commands):
        for level in run.levels:
            codes.update(level.load.codes)
    others = {k: v for k, v in codes.items() if k != "200"}
    yield (
        f"  exactly once, {label}: {c.acknowledged:,} commands acknowledged (200, applied), "
        f"{c.once:,} stored exactly once, {c.missing:,} missing, {c.repeated:,} stored twice "
        f"or more, {c.unacknowledged:,} stored though not acknowledged; {c.deals:,} of "
        f"{c.opened:,} deals acknowledged as opened are in the store: "
        f"{'holds' if c.holds else 'DOES NOT HOLD'}"
        + (f"; other answers: {dict(others)}" if others else "")
        + ("" if run.exit_code == 0 else f"; server exit code {run.exit_code}")
    )


def reader_label(read_rate: float) -> str:
    return f"a reader at {read_rate:g}/s" if read_rate else "a reader back to back"


def funnel_lines(runs: list[Funnel], target: float) -> Iterator[str]:
    for run in runs:
        info = run.info
        yield (
            f"funnel, {run.store}, {run.workers} server worker(s): {info.deals:,} deals, "
            f"{info.events:,} events (copied in {run.copy_seconds:,.0f} s, read models by "
            f"salesengine project in {run.project_seconds:,.0f} s); p50 p95 p99 in ms:"
        )
        yield f"  reports.funnel in process, one warm connection {ms(run.in_process)}"
        yield f"  API, idle                                      {ms(run.idle)}"
        for s, found in run.steadies:
            yield from steady_lines(run, s, found, target)


def steady_lines(run: Funnel, s: Steady, found: Check, target: float) -> Iterator[str]:
    w = s.writes
    behind = sorted(float(b) for b in s.behind)
    timed = "each from when it was due" if s.read_rate else "each from when it was sent"
    yield (
        f"  API, writers at {w.rate:>5,.0f} commands/s               {ms(s.funnel)}"
        f"  ({reader_label(s.read_rate)}, {timed}; n={len(s.funnel):,}; "
        f"{s.funnel_errors.total():,} failed)"
    )
    yield (
        f"    writers: {w.ok:,} commands by {w.clients} writers in {w.seconds:.1f} s "
        f"({w.rate:,.1f}/s asked {target:g}/s), "
        f"at most {s.max_lag * 1000:,.0f} ms behind schedule; "
        f"write p50 {quantile(w.latencies, 0.5):.1f}, p99 {quantile(w.latencies, 0.99):.1f} ms"
    )
    per_write = w.client_cpu / max(1, len(w.sent)) * 1000
    yield (
        f"    the load's own CPU per request: writers {per_write:.2f} ms, "
        f"funnel reader {s.reader_cpu * 1000:.2f} ms"
    )
    yield (
        f"    read models behind the log in the funnel answers: median "
        f"{quantile(behind, 0.5):,.0f}, max {max(behind, default=0):,.0f} events; current "
        f"{s.caught_up:.2f} s after the writers stopped"
    )
    yield from check_lines(f"{run.store}, {reader_label(s.read_rate)}", run, found, w)


def verdict_lines(runs: list[Funnel], target: float) -> Iterator[str]:
    """Met: the funnel's p95 within the target while the writers kept the rate asked
    (a writer that fell behind lightened the load the reader was timed under), and no
    funnel request failed (a failed one is in no latency)."""
    for run in runs:
        for s, _ in run.steadies:
            p95 = quantile(s.funnel, 0.95)
            kept = s.writes.rate >= KEPT_RATE * target
            failed = s.funnel_errors.total()  # answers the p95 cannot hold
            yield (
                f"funnel p95 through the API at {run.info.deals:,} deals, {run.store}, "
                f"{reader_label(s.read_rate)}, "
                f"writers at {s.writes.rate:,.0f}/s of {target:g}/s asked: "
                f"{p95:,.1f} ms (target <= {FUNNEL_P95_TARGET_MS:g} ms at {target:g}/s: "
                f"{yes(p95 <= FUNNEL_P95_TARGET_MS and kept and not failed)}"
                + ("" if kept else "; the writers fell behind")
                + (f"; {failed:,} funnel requests failed" if failed else "")
                + f"); {p95 / quantile(run.in_process, 0.95):.1f}x the in-process p95"
            )


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = parser_with_stores(__doc__)
    parser.add_argument("--quick", action="store_true", help="5k deals, fewer requests")
    parser.add_argument("--deals", type=int, help=f"deals for the funnel ({DEFAULT_DEALS:,})")
    parser.add_argument(
        "--requests", type=int, help=f"requests per concurrency level ({FULL_REQUESTS:,})"
    )
    parser.add_argument(
        "--pg-workers", default="2,4", help="server processes on PostgreSQL (%(default)s)"
    )
    parser.add_argument(
        "--funnel-workers",
        type=int,
        default=2,
        help="server processes on PostgreSQL for the funnel (%(default)s)",
    )
    parser.add_argument("--rate", type=float, default=WRITE_RATE, help="commands/s of writers")
    parser.add_argument(
        "--read-rates",
        default="10,0",
        help="the funnel's readers under writers, one run each, in requests/s; "
        "0: back to back (%(default)s)",
    )
    parser.add_argument(
        "--writers",
        type=int,
        default=WRITE_LANES,
        help="writers sharing the rate, each one command at a time (%(default)s)",
    )
    parser.add_argument("--duration", type=float, help="seconds the writers write (60; 15)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--skip-commands", action="store_true")
    parser.add_argument("--skip-funnel", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite stores and logs")
    args = parser.parse_args(argv)
    args.deals = args.deals or (QUICK_DEALS if args.quick else DEFAULT_DEALS)
    args.requests = args.requests or (QUICK_REQUESTS if args.quick else FULL_REQUESTS)
    args.duration = args.duration or (QUICK_DURATION if args.quick else FULL_DURATION)
    try:
        args.pg_workers = [int(w) for w in args.pg_workers.split(",")]
    except ValueError:
        parser.error(f"--pg-workers: {args.pg_workers!r}: give numbers, such as 2,4")
    try:
        args.read_rates = [float(r) for r in args.read_rates.split(",")]
    except ValueError:
        parser.error(f"--read-rates: {args.read_rates!r}: give numbers, such as 10,0")
    if not args.read_rates or any(r < 0 for r in args.read_rates):
        parser.error(f"--read-rates: {args.read_rates}: rates are 0 or more")
    if args.requests < max(CLIENTS):
        parser.error(f"--requests: at least {max(CLIENTS)}, one per client")
    return args


@dataclass
class Stores:
    """Where each phase's store lives: a file in ``workdir``, or a fresh PostgreSQL schema
    (every schema made here is dropped by ``drop``, however the run ends)."""

    workdir: Path
    pg: str
    schemas: list[str] = field(default_factory=list)

    def fresh(self, store: str, name: str, *, create: bool = True) -> str:
        if store == "sqlite":
            db = self.workdir / f"service-{name}.db"
            remove_sqlite(db)
            return str(db)
        schema = f"bench_service_{name}_{os.getpid()}"
        self.schemas.append(schema)
        if create:
            with psycopg.connect(without_query(self.pg), autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        return with_schema(without_query(self.pg), schema)

    def drop(self) -> None:
        if self.schemas:
            drop_schemas(self.pg, *self.schemas)


def label_of(store: str) -> str:
    return "SQLite" if store == "sqlite" else "PostgreSQL"


def run_commands(
    args: argparse.Namespace, stores: Stores, kinds: tuple[str, ...]
) -> tuple[dict[str, Load], list[Commands]]:
    base: dict[str, Load] = {}
    runs: list[Commands] = []
    for store in kinds:
        label = label_of(store)
        status(f"{label}: {args.requests:,} commands in process ...")
        base[label] = in_process(stores.fresh(store, "inproc"), args.requests)
        status(f"  {base[label].rate:,.0f} commands/s")
        for workers in [1] if store == "sqlite" else args.pg_workers:
            db = stores.fresh(store, f"w{workers}")
            log = stores.workdir / f"serve-{store}-{workers}.log"
            runs.append(serve_commands(label, db, workers, args.requests, log))
    return base, runs


def run_funnels(args: argparse.Namespace, stores: Stores, kinds: tuple[str, ...]) -> list[Funnel]:
    info = ensure_store(args.deals, args.seed, 2, regenerate=False)
    runs: list[Funnel] = []
    for store in kinds:
        label = label_of(store)
        status(f"{label}: copying the {info.deals:,}-deal store ...")
        started = perf_counter()
        db = stores.fresh(store, "funnel", create=False)
        if store == "sqlite":
            copy_store(info.path, Path(db))
            workers = 1
        else:
            copy_to_postgres(info.path, stores.pg, stores.schemas[-1])
            workers = args.funnel_workers
        copied = perf_counter() - started
        log = stores.workdir / f"serve-funnel-{store}.log"
        runs.append(serve_funnel(label, db, workers, info, copied, args, log))
    return runs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = perf_counter()
    kinds = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    print(
        f"versions: Python {platform.python_version()}, fastapi {version('fastapi')}, "
        f"uvicorn {version('uvicorn')}, httpx {version('httpx')}, SQLite "
        f"{sqlite3.sqlite_version}"
        + (f", PostgreSQL {postgres_version(args.pg_url)}" if "postgres" in kinds else "")
        + f"; {os.cpu_count()} CPUs",
        flush=True,
    )
    base: dict[str, Load] = {}
    commands: list[Commands] = []
    funnels: list[Funnel] = []
    with work_dir(keep=args.keep) as workdir:
        stores = Stores(workdir, args.pg_url)
        try:
            if not args.skip_commands:
                base, commands = run_commands(args, stores, kinds)
            if not args.skip_funnel:
                funnels = run_funnels(args, stores, kinds)
        finally:
            stores.drop()
    if commands:
        print("\n".join(["", *command_lines(base, commands)]))
    if funnels:
        print("\n".join(["", *funnel_lines(funnels, args.rate)]))
        print("\n".join(["", *verdict_lines(funnels, args.rate)]))
    print(f"wall time of this run: {perf_counter() - began:,.0f} s")
    checks = [r.check for r in commands] + [c for r in funnels for _, c in r.steadies]
    return 0 if all(c.holds for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
