"""Many writers on one store: commands/s, conflicts and latency with 1, 2, 4 and 8 writer
processes, against the in-process rate of one writer.

    python bench/pg_writers.py                      # PostgreSQL, 1/2/4/8 writers, 10 s each
    python bench/pg_writers.py --store both --seconds 5 --writers 1,2,4

Each level starts on a fresh store (a PostgreSQL schema, or an SQLite file). Every
writer is a process of its own with its own engine, as service workers or importers
are, and runs for ``--seconds``: it opens deals of its own and records facts and visits
on them, one command at a time, each timed from the call to its return. ``--shared``
deals are also written by every writer (a tenth of the commands), to count the
conflicts that concurrent writers of one deal meet and replay.

The figures per level: commands/s over all writers, p50 and p99 of a command, the
conflicts replayed, and the rate against the one-writer level measured first in the same
run (the in-process rate: one process, no contention). The events table's lock (the
library's PostgreSQL recorder takes it EXCLUSIVE on every insert so that positions follow
commit order) makes every insert wait for the one before it: the ceiling it sets is what
this measures.
"""

from __future__ import annotations

import multiprocessing
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness import Schemas, parser_with_stores, postgres_version, remove_sqlite, status, work_dir
from harness import with_schema as schema_url

SHARED_DEALS = 8
FACTS = ("customer_basics", "it_landscape", "need_and_budget", "fits_target_profile")


@dataclass(frozen=True)
class WriterResult:
    commands: int
    conflicts: int
    latencies: list[float]


def _writer(db: str, writer: int, seconds: float, shared: bool, start_at: float) -> WriterResult:
    from salesengine.application.commands import parse_command
    from salesengine.bootstrap import build_engine
    from salesengine.domain.errors import ConcurrencyConflict

    engine = build_engine(db, actor=f"writer{writer}")
    at = datetime(2026, 1, 5, tzinfo=UTC)
    latencies: list[float] = []
    conflicts = 0
    n = 0
    try:
        while time.time() < start_at:
            time.sleep(0.001)
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            deal = f"W{writer}-{n // 6}"
            step = n % 6
            command: dict[str, Any]
            if shared and n % 10 == 9:
                command = {"cmd": "visit", "deal": f"S{n % SHARED_DEALS}"}
            elif step == 0:
                opened = (at + timedelta(minutes=n)).isoformat()
                command = {"cmd": "open", "deal": deal, "policy": "seven-stage", "at": opened}
            elif step <= 4:
                command = {"cmd": "fact", "deal": deal, "name": FACTS[step - 1]}
            else:
                command = {"cmd": "visit", "deal": deal, "effective": True}
            parsed = parse_command(command)
            started = time.perf_counter()
            try:
                engine.execute(parsed)
            except ConcurrencyConflict:
                conflicts += 1  # what execute could not replay away
            latencies.append(time.perf_counter() - started)
            n += 1
    finally:
        engine.close()
    return WriterResult(n, conflicts, latencies)


def _run_writer(args: tuple[str, int, float, bool, float]) -> WriterResult:
    return _writer(*args)


@dataclass(frozen=True)
class Level:
    store: str
    writers: int
    commands: int
    seconds: float
    conflicts: int
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.commands / self.seconds


def _level(db: str, store: str, writers: int, seconds: float, shared: bool) -> Level:
    from salesengine.application.commands import parse_command
    from salesengine.bootstrap import build_engine

    if shared:  # the shared deals exist before any writer starts
        engine = build_engine(db, actor="setup")
        for i in range(SHARED_DEALS):
            engine.execute(parse_command({"cmd": "open", "deal": f"S{i}", "policy": "seven-stage"}))
        engine.close()
    start_at = time.time() + 1.5 + 0.3 * writers  # every process started and connected
    context = multiprocessing.get_context("spawn")
    with context.Pool(writers) as pool:
        results = pool.map(
            _run_writer, [(db, w, seconds, shared, start_at) for w in range(writers)]
        )
    latencies = sorted(x for r in results for x in r.latencies)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return Level(
        store,
        writers,
        sum(r.commands for r in results),
        seconds,
        sum(r.conflicts for r in results),
        quantiles[49] * 1000,
        quantiles[98] * 1000,
    )


def main(argv: list[str] | None = None) -> int:
    parser = parser_with_stores(__doc__)
    parser.set_defaults(store="postgres")
    parser.add_argument("--writers", default="1,2,4,8", help="writer processes per level")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each level")
    parser.add_argument(
        "--shared", action="store_true", help="a tenth of the commands on deals all write"
    )
    args = parser.parse_args(argv)
    levels = [int(w) for w in args.writers.split(",")]
    stores = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    print(f"writers {levels}, {args.seconds:g} s each, shared deals: {args.shared}")
    if "postgres" in stores:
        print(f"PostgreSQL {postgres_version(args.pg_url)}")
    rows: list[Level] = []
    with work_dir(keep=False) as workdir:
        for store in stores:
            for writers in levels:
                status(f"{store}: {writers} writer(s) ...")
                if store == "sqlite":
                    db = str(workdir / f"writers_{writers}.db")
                    remove_sqlite(Path(db))
                    rows.append(_level(db, store, writers, args.seconds, args.shared))
                    continue
                name = f"writers_{writers}"
                with Schemas(args.pg_url, (name,)):
                    db = schema_url(args.pg_url, name)
                    rows.append(_level(db, store, writers, args.seconds, args.shared))
    print()
    print("store     writers  commands/s  vs 1 writer  p50 ms  p99 ms  conflicts")
    for row in rows:
        one = next(r for r in rows if r.store == row.store and r.writers == levels[0])
        print(
            f"{row.store:<9} {row.writers:>7}  {row.rate:>10,.0f}  {row.rate / one.rate:>10.2f}x"
            f"  {row.p50_ms:>6.1f}  {row.p99_ms:>6.1f}  {row.conflicts:>9,}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
