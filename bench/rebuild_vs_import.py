"""Do the read models keep up with a bulk import? The rebuild against the import of the
same events, and against the raw read of the same store, in one run.

    python bench/rebuild_vs_import.py                  # 200,000 commands, SQLite and PostgreSQL
    python bench/rebuild_vs_import.py --quick          # 50,000 commands
    python bench/rebuild_vs_import.py --store sqlite --commands 500000

For each store, from nothing: ``bench/ingest.py``'s seeded workload goes in through the
path of ``salesengine import`` with the worker count it chooses itself (timed); then the
raw read of the events it stored, ``orjson.loads`` of every state (timed: the baseline of
docs/read-model-performance.md); then ``ProjectionRunner.rebuild()`` of every read model
from none, in a fresh process (timed). The events are the same three times.

Targets (issue "read models that keep up"): the rebuild at least as fast as the import,
so the read models never fall behind a bulk import; and at least 0.25x of the raw read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from harness import Schemas, parser_with_stores, remove_sqlite, status, with_schema, work_dir, yes
from ingest import QUICK_COMMANDS, Workload, generate, run_engine

from projections import isolated, read_postgres, read_sqlite, rebuild
from salesengine.cli.worker_engines import EngineSpec
from salesengine.importing.parallel import auto_workers
from salesengine.store.settings import EVENTS_TABLE

COMMANDS = 200_000
SCHEMA = "rebuild_vs_import"


@dataclass(frozen=True, slots=True)
class Rates:
    store: str
    events: int
    workers: int
    imported: float  # seconds
    read: float
    rebuilt: float
    peak_rss: int

    @property
    def label(self) -> str:
        return "1 process" if self.workers == 1 else f"{self.workers} worker processes"

    def lines(self) -> list[str]:
        per = self.imported / self.rebuilt
        vs_read = self.read / self.rebuilt
        return [
            f"{self.store}: {self.events:,} events; import ({self.label}) "
            f"{self.events / self.imported:,.0f} ev/s, raw read + orjson "
            f"{self.events / self.read:,.0f} ev/s, rebuild {self.events / self.rebuilt:,.0f} ev/s "
            f"(peak RSS {self.peak_rss / 2**20:,.0f} MiB)",
            f"{self.store}: rebuild / import {per:.2f}x (target >= 1: {yes(per >= 1)}); "
            f"rebuild / raw read {vs_read:.3f}x (target >= 0.25x: {yes(vs_read >= 0.25)})",
        ]


def measure(store: str, db: str, workload: Workload, batch_size: int) -> Rates:
    workers = auto_workers(EngineSpec(db), workload.commands)
    imported = run_engine(store, db, workload, batch_size, workers)
    status(f"{store}: raw read + orjson of {imported.events:,} events ...")
    if store == "sqlite":
        events, read = read_sqlite(db)
    else:
        events, read = read_postgres(db, SCHEMA, EVENTS_TABLE["postgresql"])
    if events != imported.events:
        raise AssertionError(f"the raw read saw {events:,} events, the import {imported.events:,}")
    status(f"{store}: rebuild of every read model ...")
    rebuilt, rss = isolated(rebuild, db)
    if rebuilt.events != imported.events:
        raise AssertionError(f"the rebuild read {rebuilt.events:,} events of {events:,}")
    return Rates(store, events, workers, imported.seconds, read, rebuilt.seconds, rss)


def main(argv: list[str] | None = None) -> int:
    parser = parser_with_stores(__doc__)
    parser.add_argument("--commands", type=int, help=f"commands to generate ({COMMANDS:,})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_COMMANDS:,} commands")
    parser.add_argument("--batch-size", type=int, default=1000, help="commands per save")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args(argv)
    commands = args.commands or (QUICK_COMMANDS if args.quick else COMMANDS)
    stores = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    results: list[Rates] = []
    with work_dir(keep=False) as workdir:
        status(f"generating {commands:,} commands ...")
        workload = generate(workdir / "commands.jsonl", commands, seed=args.seed, chunk_deals=250)
        print(
            f"workload: {workload.commands:,} commands over {workload.deals:,} deals, "
            f"seed {args.seed}, batches of {args.batch_size:,}; cores: {os.cpu_count()}"
        )
        if "sqlite" in stores:
            db = workdir / "store.db"
            remove_sqlite(db)
            results.append(measure("sqlite", str(db), workload, args.batch_size))
        if "postgres" in stores:
            with Schemas(args.pg_url, (SCHEMA,)):
                url = with_schema(args.pg_url, SCHEMA)
                results.append(measure("postgres", url, workload, args.batch_size))
    for result in results:
        for line in result.lines():
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
