"""Bulk-import benchmark: the engine's JSON Lines import against the bare eventsourcing library.

    python bench/ingest.py                     # about 1M commands, SQLite and PostgreSQL
    python bench/ingest.py --quick             # about 50k commands, a sanity check
    python bench/ingest.py --store sqlite --commands 200000 --batch-size 2000

It writes seeded, realistic deal histories as a JSON Lines file and imports it with
``salesengine.importing.jsonl.import_file``, the code path of ``salesengine import``.
In the same run a minimal eventsourcing application saves the same number of events
over the same aggregates in batches of the same size (the reference the engine is held
to), and on SQLite a raw sqlite3 ``executemany`` of rows of the same size marks the
ceiling of the store itself. Only the import and the saves are timed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from importlib.metadata import version
from pathlib import Path
from time import perf_counter, time
from typing import Any
from uuid import UUID

from audit_cost import audit_cost
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from harness import (
    DATA_DIR,
    Schemas,
    parser_with_stores,
    postgres_version,
    remove_sqlite,
    status,
    with_schema,
    work_dir,
    yes,
)
from psycopg import sql

from salesengine.bootstrap import build_engine
from salesengine.cli.worker_engines import EngineSpec
from salesengine.importing.jsonl import ImportReport, import_file
from salesengine.importing.parallel import auto_workers, import_file_parallel
from salesengine.policies.catalog import PolicyCatalog
from salesengine.store.settings import store_settings

FULL_COMMANDS = 1_000_000
QUICK_COMMANDS = 50_000
HOUR = 3600
DAY = 24 * HOUR

# Mixed policies, so the guard sees fact-only funnels and next-step funnels alike.
POLICY_MIX = (("funnel-list", 5), ("five-level", 3), ("seven-stage", 2))
ACTORS = ("li.wei", "wang.fang", "zhang.min", "chen.jie", "anna.berg", "tom.hale", "sara.ng")
TEAMS = (("east", "shanghai"), ("north", "beijing"), ("south", "shenzhen"), ("emea", "berlin"))
ZONES = (timezone(timedelta(hours=8)), UTC, timezone(timedelta(hours=1)))
EXTRA_FACTS = ("champion", "pain_point", "competitor_known", "reference_site")
VISIT_KINDS = ("face_to_face", "phone", "video", "demo")
NOTES = (
    "walked through the pilot results with IT",
    "拜访客户信息中心，讨论二期需求",
    "procurement asked for a revised price list",
    "met the CFO; budget cycle starts next quarter",
)
ACTIONS = (
    "send revised proposal",
    "book technical workshop",
    "安排高层拜访",
    "confirm budget owner",
    "draft statement of work",
)
LOSS_REASONS = ("price", "lost to incumbent", "project cancelled", "no budget this year")
COMPETITORS = ("Acme", "Globex", "Initech", "Umbrella")


# --------------------------------------------------------------------------- workload


@dataclass(frozen=True, slots=True)
class StageShape:
    key: str
    facts: tuple[str, ...]
    needs_next_step: bool


@dataclass(frozen=True, slots=True)
class PolicyShape:
    name: str
    stages: tuple[StageShape, ...]


@dataclass(slots=True)
class Workload:
    path: Path
    commands: int
    deals: int
    seconds: float
    # The deal index of every line, in file order: the baselines replay the same shape.
    sequence: array[int]


def policy_shapes() -> list[PolicyShape]:
    """Stage criteria read from the real policy files, so generated moves always qualify."""
    catalog = PolicyCatalog()
    shapes = []
    for name, _ in POLICY_MIX:
        policy = catalog.get(name)
        stages = tuple(
            StageShape(
                key=s.key,
                facts=tuple(c.key for c in s.criteria if c.source == "fact"),
                needs_next_step=any(c.source == "next_step" for c in s.criteria),
            )
            for s in policy.stages
        )
        shapes.append(PolicyShape(name, stages))
    return shapes


def day(moment: int) -> str:
    return datetime.fromtimestamp(moment, UTC).date().isoformat()


class DealPlan:
    """One deal's commands as (epoch seconds, JSON line), strictly increasing in time."""

    def __init__(self, rng: random.Random, key: str, shape: PolicyShape, now: int) -> None:
        self.rng = rng
        self.key = key
        self.shape = shape
        self.zone = rng.choice(ZONES)
        self.actor = rng.choice(ACTORS)
        self.t = now - rng.randint(150 * DAY, 365 * DAY)
        self.lines: list[tuple[int, str]] = []
        self._open()
        # Most deals stall early; few reach the last stage.
        last = len(shape.stages) - 1
        target = min(last, int(rng.expovariate(0.6)))
        self._stages(target)
        self._noise()
        self._outcome(reached_last=target == last)
        if self.t > now - HOUR:
            raise AssertionError(f"generator bug: deal {key} runs into the future")

    def add(self, cmd: str, **fields: Any) -> None:
        at = datetime.fromtimestamp(self.t, self.zone).isoformat()
        line = {"cmd": cmd, "deal": self.key, "at": at, "by": self.actor, **fields}
        self.lines.append((self.t, json.dumps(line, ensure_ascii=False, separators=(",", ":"))))

    def later(self, low: int = HOUR, high: int = 2 * DAY) -> None:
        self.t += self.rng.randint(low, high)

    def _open(self) -> None:
        rng = self.rng
        team, region = rng.choice(TEAMS)
        opening: dict[str, Any] = {
            "policy": self.shape.name,
            "account": f"Account {rng.randint(1, 20_000):05d}",
            "owner": self.actor,
            "team": team,
            "region": region,
            "expected_close": day(self.t + rng.randint(60, 240) * DAY),
            "facts": dict.fromkeys(self.shape.stages[0].facts, True),
        }
        if rng.random() < 0.7:
            opening["amount"] = rng.randrange(10_000, 5_000_000, 500)
        self.add("open", **opening)

    def _stages(self, target: int) -> None:
        rng = self.rng
        step_due: int | None = None  # until when the open next step is surely live
        for stage in self.shape.stages[1 : target + 1]:
            self._noise()
            for fact in stage.facts:
                self.later()
                self.add("fact", name=fact, value=True if rng.random() < 0.8 else "confirmed")
            if stage.needs_next_step and (step_due is None or step_due < self.t + 3 * DAY):
                self.later()
                step_due = self.t + rng.randint(7, 30) * DAY
                self.add("next_step", action=rng.choice(ACTIONS), due=day(step_due))
            self.later(HOUR, DAY)  # within a day, so the next step is still live
            self.add("advance", to=stage.key)
            if step_due is not None and rng.random() < 0.3:
                self.later()
                self.add("done", note="done")
                step_due = None

    def _noise(self) -> None:
        rng = self.rng
        for _ in range(rng.randint(0, 3)):
            self.later()
            roll = rng.random()
            if roll < 0.45:
                self.add(
                    "visit",
                    kind=rng.choice(VISIT_KINDS),
                    effective=rng.random() < 0.4,
                    attendees=rng.sample(ACTORS, rng.randint(1, 3)),
                    note=rng.choice(NOTES),
                )
            elif roll < 0.70:
                self.add("amount", amount=rng.randrange(10_000, 5_000_000, 500))
            elif roll < 0.85:
                self.add("fact", name=rng.choice(EXTRA_FACTS), value=rng.choice(NOTES))
            elif roll < 0.95:
                self.add("expected_close", expected_close=day(self.t + rng.randint(30, 200) * DAY))
            else:
                team, region = rng.choice(TEAMS)
                self.add("owner", owner=rng.choice(ACTORS), team=team, region=region)

    def _outcome(self, *, reached_last: bool) -> None:
        rng = self.rng
        roll = rng.random()
        self.later()
        if reached_last and roll < 0.7:
            self.add("won")
        elif roll < 0.25:
            self.add("lost", reason=rng.choice(LOSS_REASONS), competitor=rng.choice(COMPETITORS))
        elif roll < 0.35:
            self.add("abandon", reason="customer went quiet")


def generate(path: Path, commands: int, *, seed: int, chunk_deals: int) -> Workload:
    """Write ``commands`` lines; deals come in chunks, their commands interleaved by time."""
    rng = random.Random(seed)
    shapes = policy_shapes()
    weights = [w for _, w in POLICY_MIX]
    now = int(time())
    sequence: array[int] = array("l")
    deals = 0
    started = perf_counter()
    with path.open("w", encoding="utf-8") as handle:
        while len(sequence) < commands:
            lines: list[tuple[int, int, int, str]] = []
            for _ in range(chunk_deals):
                room = commands - len(sequence) - len(lines)
                if room <= 0:
                    break
                shape = rng.choices(shapes, weights)[0]
                planned = DealPlan(rng, f"deal-{deals:07d}", shape, now).lines
                # A truncated deal is still a valid prefix of its history.
                lines.extend((t, deals, n, text) for n, (t, text) in enumerate(planned[:room]))
                deals += 1
            lines.sort()  # by time; a deal's own lines keep their order (increasing times)
            handle.writelines(text + "\n" for _, _, _, text in lines)
            sequence.extend(deal for _, deal, _, _ in lines)
    return Workload(path, len(sequence), deals, perf_counter() - started, sequence)


# --------------------------------------------------------------------------- measurements


@dataclass(frozen=True, slots=True)
class Measurement:
    store: str
    path: str
    events: int
    seconds: float
    row_size: tuple[int, int] | None = None  # average stored topic and state bytes

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def run_engine(
    store: str, db: str, workload: Workload, batch_size: int, workers: int
) -> Measurement:
    """``salesengine import``: one process, or the file's deals shared among ``workers``."""
    engine = build_engine(db, actor="bench")
    try:
        status(f"{store}: salesengine import of {workload.commands:,} commands, {workers} ...")
        started = perf_counter()
        if workers == 1:
            report = import_file(engine, workload.path, batch_size=batch_size)
        else:
            spec = EngineSpec(db, actor="bench")
            report = import_file_parallel(
                spec, workload.path, workers=workers, batch_size=batch_size
            )
        seconds = perf_counter() - started
        check_report(report, workload)
        events = count_events(engine.recorder)
        row_size = average_row_size(engine.recorder)
    finally:
        engine.close()
    if events != workload.commands:
        raise AssertionError(f"expected {workload.commands:,} events, the store has {events:,}")
    label = "1 process" if workers == 1 else f"{workers} workers"
    return Measurement(store, f"salesengine import ({label})", events, seconds, row_size)


def count_events(recorder: ApplicationRecorder) -> int:
    """Rows in the events table (notification ids may have gaps under concurrent writers)."""
    r: Any = recorder
    if isinstance(recorder, SQLiteApplicationRecorder):
        with r.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT count(*) FROM {r.events_table_name}")
            return int(c.fetchone()[0])
    statement = sql.SQL("SELECT count(*) AS n FROM {0}.{1}").format(
        sql.Identifier(r.datastore.schema), sql.Identifier(r.events_table_name)
    )
    with r.datastore.transaction(commit=False) as curs:
        curs.execute(statement)
        return int(curs.fetchone()["n"])


def check_report(report: ImportReport, workload: Workload) -> None:
    if report.refused:
        for error in report.refused[:10]:
            status(f"  line {error.line}: {error.message}")
        raise AssertionError(f"generator bug: {len(report.refused):,} commands were refused")
    if report.applied != workload.commands:
        raise AssertionError(
            f"applied {report.applied:,} of {workload.commands:,} commands "
            f"({report.duplicates:,} duplicates)"
        )


class Tally(Aggregate):
    """The bare library's aggregate: one event class with a small, comparable payload."""

    def __init__(self, effective_at: datetime, actor: str, name: str, value: int) -> None:
        self.last = (effective_at, actor, name, value)

    class Noted(Aggregate.Event):
        effective_at: datetime
        actor: str
        name: str
        value: int

        def apply(self, aggregate: Any) -> None:
            aggregate.last = (self.effective_at, self.actor, self.name, self.value)

    def note(self, effective_at: datetime, actor: str, name: str, value: int) -> None:
        self.trigger_event(
            self.Noted, effective_at=effective_at, actor=actor, name=name, value=value
        )


class BareApp(Application[UUID]):
    name = "bare"


def run_bare(store: str, env: dict[str, str], workload: Workload, batch_size: int) -> Measurement:
    """What a library user would write: mutate aggregates, ``save`` each batch in one go."""
    app = BareApp(env=env)
    try:
        status(f"{store}: bare eventsourcing save of {workload.commands:,} events ...")
        tallies: dict[int, Tally] = {}
        touched: dict[UUID, Tally] = {}
        base = datetime(2025, 1, 1, tzinfo=UTC)
        started = perf_counter()
        for i, deal in enumerate(workload.sequence, start=1):
            at = base + timedelta(seconds=i)
            actor = ACTORS[i % len(ACTORS)]
            tally = tallies.get(deal)
            if tally is None:
                tally = tallies[deal] = Tally(at, actor, "opened", i)
            else:
                tally.note(at, actor, EXTRA_FACTS[i % len(EXTRA_FACTS)], i)
            touched[tally.id] = tally
            if i % batch_size == 0:
                app.save(*touched.values())
                touched.clear()
        if touched:
            app.save(*touched.values())
        seconds = perf_counter() - started
        events = app.recorder.max_notification_id() or 0
        row_size = average_row_size(app.recorder)
    finally:
        app.close()
    return Measurement(store, "bare eventsourcing save", events, seconds, row_size)


def average_row_size(recorder: ApplicationRecorder) -> tuple[int, int] | None:
    """Average stored topic and state bytes, read through the recorder's own connection."""
    r: Any = recorder
    if isinstance(recorder, SQLiteApplicationRecorder):
        query = f"SELECT avg(length(topic)), avg(length(state)) FROM {r.events_table_name}"
        with r.datastore.transaction(commit=False) as c:
            c.execute(query)
            topic, state = c.fetchone()
    elif isinstance(recorder, PostgresApplicationRecorder):
        statement = sql.SQL(
            "SELECT avg(octet_length(topic)) AS topic, avg(octet_length(state)) AS state "
            "FROM {0}.{1}"
        ).format(sql.Identifier(r.datastore.schema), sql.Identifier(r.events_table_name))
        with r.datastore.transaction(commit=False) as curs:
            curs.execute(statement)
            row = curs.fetchone()
            topic, state = row["topic"], row["state"]
    else:
        return None
    return round(topic), round(state)


def run_raw_sqlite(
    db: Path, workload: Workload, batch_size: int, row_size: tuple[int, int]
) -> Measurement:
    """The store's ceiling: the library's table layout, pre-built rows, no Python objects."""
    topic_len, state_len = row_size
    rng = random.Random(0)
    ids: dict[int, str] = {}
    versions: dict[int, int] = {}
    topic = "x" * topic_len
    state = b"x" * state_len
    rows = []
    for deal in workload.sequence:
        if deal not in ids:
            ids[deal] = UUID(int=rng.getrandbits(128)).hex
        versions[deal] = versions.get(deal, 0) + 1
        rows.append((ids[deal], versions[deal], topic, state))
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(
            "CREATE TABLE events (originator_id TEXT, originator_version INTEGER, "
            "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
        )
        status(f"sqlite: raw sqlite3 executemany of {len(rows):,} rows ...")
        started = perf_counter()
        for start in range(0, len(rows), batch_size):
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO events VALUES (?,?,?,?)", rows[start : start + batch_size]
            )
            conn.execute("COMMIT")
        seconds = perf_counter() - started
        (events,) = conn.execute("SELECT count(*) FROM events").fetchone()
    finally:
        conn.close()
    return Measurement("sqlite", "raw sqlite3 executemany", events, seconds, row_size)


def best(runs: list[Measurement]) -> Measurement:
    """The fastest of repeated runs: this shared machine's noise only ever slows a run."""
    return min(runs, key=lambda m: m.seconds)


def bench_sqlite(
    workdir: Path, workload: Workload, batch_size: int, workers: int, repeat: int
) -> list[Measurement]:
    single_db = workdir / "engine.db"
    parallel_db = workdir / "engine-parallel.db"
    bare_db = workdir / "bare.db"
    raw_db = workdir / "raw.db"
    for db in (single_db, raw_db):
        remove_sqlite(db)
    rows = [run_engine("sqlite", str(single_db), workload, batch_size, 1)]
    engines, bares = [], []
    for _ in range(repeat):  # alternating, so a slow spell hits both paths alike
        for db in (parallel_db, bare_db):
            remove_sqlite(db)
        if workers > 1:
            engines.append(run_engine("sqlite", str(parallel_db), workload, batch_size, workers))
        bares.append(
            run_bare("sqlite", dict(store_settings(str(bare_db)).env), workload, batch_size)
        )
    rows += [best(engines)] if engines else []
    rows.append(best(bares))
    row_size = rows[0].row_size
    assert row_size is not None
    rows.append(run_raw_sqlite(raw_db, workload, batch_size, row_size))
    return rows


def bench_postgres(
    url: str, workload: Workload, batch_size: int, workers: int, repeat: int
) -> list[Measurement]:
    pid = os.getpid()
    rows = []
    single = f"bench_engine_{pid}"
    with Schemas(url, (single,)):
        rows.append(run_engine("postgres", with_schema(url, single), workload, batch_size, 1))
    engines, bares = [], []
    for round_ in range(repeat):
        parallel, bare = f"bench_parallel_{pid}_{round_}", f"bench_bare_{pid}_{round_}"
        with Schemas(url, (parallel, bare)):
            if workers > 1:
                db = with_schema(url, parallel)
                engines.append(run_engine("postgres", db, workload, batch_size, workers))
            env = dict(store_settings(with_schema(url, bare)).env)
            bares.append(run_bare("postgres", env, workload, batch_size))
    rows += [best(engines)] if engines else []
    rows.append(best(bares))
    return rows


# --------------------------------------------------------------------------- report


def table(rows: list[Measurement]) -> Iterator[str]:
    bare = {m.store: m.rate for m in rows if m.path.startswith("bare")}
    width = max(len(m.path) for m in rows)
    yield (
        f"{'store':<9} {'path':<{width}} {'events':>10} {'seconds':>8} {'events/s':>9} "
        f"{'vs bare':>7} {'B/event':>7}"
    )
    for m in rows:
        ratio = f"{m.rate / bare[m.store]:.2f}x" if bare.get(m.store) else "-"
        size = str(m.row_size[1]) if m.row_size else "-"
        yield (
            f"{m.store:<9} {m.path:<{width}} {m.events:>10,} {m.seconds:>8.2f} "
            f"{m.rate:>9,.0f} {ratio:>7} {size:>7}"
        )
    yield "(B/event: average stored state bytes per event)"


def verdict(rows: list[Measurement]) -> Iterator[str]:
    """Judged on what ``salesengine import`` does by default: the last engine row."""
    for store in dict.fromkeys(m.store for m in rows):
        engines = [m for m in rows if m.store == store and m.path.startswith("salesengine")]
        engine = engines[-1]
        bare = next(m for m in rows if m.store == store and m.path.startswith("bare"))
        ratio = engine.rate / bare.rate
        line = (
            f"{store}: {engine.path} / bare = {ratio:.2f}x (target >= 1.00x: {yes(ratio >= 1.0)})"
        )
        if store == "sqlite":
            line += f"; stretch 50,000 ev/s: {yes(engine.rate >= 50_000)}"
        yield line


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = parser_with_stores(__doc__)
    parser.add_argument("--commands", type=int, help=f"commands to generate ({FULL_COMMANDS:,})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_COMMANDS:,} commands")
    parser.add_argument("--batch-size", type=int, default=1000, help="commands per save")
    parser.add_argument("--chunk-deals", type=int, default=250, help="deals interleaved per chunk")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--repeat",
        type=int,
        default=2,
        help="runs of the default import and of the bare save, alternating; the best counts",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="import worker processes (default: what `salesengine import` chooses)",
    )
    parser.add_argument(
        "--keep", action="store_true", help=f"keep the command file and SQLite stores in {DATA_DIR}"
    )
    parser.add_argument(
        "--no-audit",
        action="store_true",
        help="skip the audit chain's cost (chained against unchained import, verify rate)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    commands = args.commands or (QUICK_COMMANDS if args.quick else FULL_COMMANDS)
    stores = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    with work_dir(keep=args.keep) as workdir:
        status(f"generating {commands:,} commands ...")
        workload = generate(
            workdir / "commands.jsonl", commands, seed=args.seed, chunk_deals=args.chunk_deals
        )
        size_mb = workload.path.stat().st_size / 1e6
        print(
            f"workload: {workload.commands:,} commands over {workload.deals:,} deals "
            f"({size_mb:,.0f} MB JSON Lines), generated in {workload.seconds:.1f} s; "
            f"batch size {args.batch_size:,}; seed {args.seed}"
        )
        versions = (
            f"Python {platform.python_version()}, eventsourcing {version('eventsourcing')}, "
            f"pydantic {version('pydantic')}, SQLite {sqlite3.sqlite_version}"
        )
        if "postgres" in stores:
            versions += f", PostgreSQL {postgres_version(args.pg_url)}"
        print(f"versions: {versions}")
        workers = args.workers or auto_workers(
            EngineSpec(str(workdir / "engine.db")), workload.commands
        )
        print(
            f"import workers: {workers} (cores: {os.cpu_count()}); the default import and "
            f"the bare save each ran {args.repeat}x, alternating, best shown"
        )
        rows: list[Measurement] = []
        if "sqlite" in stores:
            rows += bench_sqlite(workdir, workload, args.batch_size, workers, args.repeat)
        if "postgres" in stores:
            rows += bench_postgres(args.pg_url, workload, args.batch_size, workers, args.repeat)
        print()
        for line in table(rows):
            print(line)
        print()
        for line in verdict(rows):
            print(line)
        if not args.no_audit:  # bench/audit_cost.py; docs/benchmarks.md, "Audit chain"
            print()
            for store in stores:
                target = workdir if store == "sqlite" else args.pg_url
                cost = audit_cost(store, target, workload.path, args.batch_size, args.repeat)
                for line in cost.lines():
                    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
