"""How far the read models trail the log under a sustained write load.

    python bench/catch_up_lag.py                    # SQLite and PostgreSQL, 1,000 events/s, 30 s
    python bench/catch_up_lag.py --store sqlite --rate 2000 --seconds 20

A writer process records ``--rate`` events/s for ``--seconds`` (deals opened, facts
and visits, a batch every 50 ms through ``execute_many``, as an import or a busy service
writes), while ``salesengine project --follow`` keeps the read models current in a
process of its own. This process samples the read models' tracking position every 10 ms.

An event's lag: from the time it was recorded (its own recorded-time clock) to the first
sample at which every read model had applied it. Target: p99 at most 2 s. Also shown:
the rate the writer sustained (it falls behind when the store cannot take the load).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import orjson
from harness import Schemas, parser_with_stores, remove_sqlite, status, with_schema, work_dir

FACTS = ("customer_basics", "it_landscape", "need_and_budget", "fits_target_profile")
TICK = 0.05  # seconds between the writer's batches


def _commands(start: int, count: int) -> list[tuple[int, Any, None]]:
    from salesengine.application.commands import parse_command

    at = datetime(2026, 1, 5, tzinfo=UTC)
    made = []
    for n in range(start, start + count):
        deal, step = f"L{n // 6}", n % 6
        fields: dict[str, Any]
        if step == 0:
            fields = {"cmd": "open", "deal": deal, "policy": "seven-stage",
                      "at": (at + timedelta(minutes=n)).isoformat()}  # fmt: skip
        elif step <= 4:
            fields = {"cmd": "fact", "deal": deal, "name": FACTS[step - 1]}
        else:
            fields = {"cmd": "visit", "deal": deal, "effective": True}
        made.append((n, parse_command(fields), None))
    return made


def _write(db: str, rate: int, seconds: float) -> int:
    """The writer process: ``rate`` commands a second in batches every ``TICK``."""
    from salesengine.bootstrap import build_engine

    engine = build_engine(db, actor="writer")
    per_tick = max(1, round(rate * TICK))
    written = 0
    try:
        began = time.perf_counter()
        while (now := time.perf_counter() - began) < seconds:
            due = int(now / TICK) + 1
            while written < due * per_tick:
                for _ in engine.execute_many(_commands(written, per_tick), batch_size=per_tick):
                    pass
                written += per_tick
            time.sleep(max(0.0, due * TICK - (time.perf_counter() - began)))
    finally:
        engine.close()
    return written


def _tracked(sql: Any) -> int:
    from sqlalchemy import text

    with sql.connect() as conn:
        found = conn.execute(text("SELECT min(position) FROM projection_tracking")).scalar()
    return int(found or 0)


def _recorded(db: str) -> list[tuple[int, float]]:
    """(position, recorded time as epoch seconds) of every event."""
    from salesengine.bootstrap import build_engine

    engine = build_engine(db, create=False)
    found: list[tuple[int, float]] = []
    try:
        start = 1
        while page := engine.recorder.select_notifications(start, 10_000):
            for n in page:
                stamp = orjson.loads(n.state)["timestamp"]
                found.append((n.id, datetime.fromisoformat(stamp).timestamp()))
            start = page[-1].id + 1
    finally:
        engine.close()
    return found


def measure(db: str, store: str, rate: int, seconds: float) -> list[str]:
    from salesengine.bootstrap import build_engine
    from salesengine.projections.runner import ProjectionRunner
    from salesengine.store.settings import store_settings
    from salesengine.store.sql import sql_engine

    settings = store_settings(db)
    engine = build_engine(db)
    ProjectionRunner(engine, sql_engine(settings)).setup()  # tables, before anyone reads
    engine.close()
    follower = subprocess.Popen(
        [sys.executable, "-m", "salesengine", "project", "--follow", "--poll", "0.05"],
        env={**os.environ, "SALESENGINE_DB": db},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    reads = sql_engine(settings, reader=True)
    samples: list[tuple[float, int]] = []
    try:
        with get_context("spawn").Pool(1) as pool:
            writing = pool.apply_async(_write, (db, rate, seconds))
            while not writing.ready():
                samples.append((time.time(), _tracked(reads)))
                time.sleep(0.01)
            written = writing.get()
            head = _recorded(db)[-1][0] if written else 0
            deadline = time.time() + 60
            while _tracked(reads) < head and time.time() < deadline:
                samples.append((time.time(), _tracked(reads)))
                time.sleep(0.01)
            samples.append((time.time(), _tracked(reads)))
    finally:
        follower.send_signal(signal.SIGINT)
        follower.wait(30)
        reads.dispose()
    lags = _lags(_recorded(db), samples)
    lags.sort()
    sustained = written / seconds
    return [
        f"{store}: {written:,} events in {seconds:g} s ({sustained:,.0f}/s of {rate:,} asked); "
        f"lag p50 {_q(lags, 0.50):.2f} s, p99 {_q(lags, 0.99):.2f} s, max {lags[-1]:.2f} s "
        f"(target p99 <= 2 s: {'met' if _q(lags, 0.99) <= 2 else 'NOT met'})"
    ]


def _lags(events: list[tuple[int, float]], samples: list[tuple[float, int]]) -> list[float]:
    lags: list[float] = []
    i = 0
    for position, recorded in events:
        while i < len(samples) and samples[i][1] < position:
            i += 1
        if i == len(samples):
            break  # never applied within the wait: left out, and said below
        lags.append(max(0.0, samples[i][0] - recorded))
    if len(lags) < len(events):
        print(f"  {len(events) - len(lags):,} events not applied within 60 s after the writes")
    return lags


def _q(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


def main(argv: list[str] | None = None) -> int:
    parser = parser_with_stores(__doc__)
    parser.add_argument("--rate", type=int, default=1000, help="events/s the writer records")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    stores = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    lines: list[str] = []
    with work_dir(keep=False) as workdir:
        for store in stores:
            status(f"{store}: writing {args.rate:,} events/s for {args.seconds:g} s ...")
            if store == "sqlite":
                db = workdir / "lag.db"
                remove_sqlite(Path(db))
                lines += measure(str(db), store, args.rate, args.seconds)
                continue
            with Schemas(args.pg_url, ("catch_up_lag",)):
                lines += measure(
                    with_schema(args.pg_url, "catch_up_lag"), store, args.rate, args.seconds
                )
    print()
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
