"""A JSON Lines import spread over worker processes, one share of the deals each.

Every line of one deal goes to the same worker (``partition_of``), and each worker
runs the ordinary import over its share with its own engine and connection. So each
deal's commands are still applied in file order, with the same checks, batching,
idempotency and conflict handling as a single-process import; only the order in
which different deals' batches reach the store is the workers' own. Every worker
reads the whole file, which costs a JSON decode per foreign line, far less than the
validation and decision it skips.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.sharedctypes import SynchronizedArray
from pathlib import Path
from typing import Any

from salesengine.bootstrap import build_engine
from salesengine.domain.errors import SalesEngineError, StoreUnavailable
from salesengine.importing.jsonl import ImportReport, import_file
from salesengine.persistence import store_settings

# Below this many lines, starting processes costs more than it saves.
MIN_LINES_PER_WORKER = 20_000
MAX_AUTO_WORKERS = 4
POLL_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """What a worker needs to build its own engine (engines do not cross processes)."""

    db: str | None
    policy_paths: tuple[Path, ...] = ()
    actor: str | None = None


def in_one_process(spec: EngineSpec) -> bool:
    """An in-memory SQLite store lives in one process: workers would each get their own."""
    settings = store_settings(spec.db)
    name = settings.env.get("SQLITE_DBNAME", "")
    return settings.kind == "sqlite" and (":memory:" in name or "mode=memory" in name)


def auto_workers(spec: EngineSpec, lines: int) -> int:
    """As many workers as cores and the file size justify; one for an in-memory store."""
    if in_one_process(spec):
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, MAX_AUTO_WORKERS, lines // MIN_LINES_PER_WORKER))


def _work(
    spec: EngineSpec,
    path: str,
    part: int,
    parts: int,
    batch_size: int,
    progress: SynchronizedArray[Any],
    results: multiprocessing.Queue[tuple[Any, ...]],
) -> None:
    def advance(line: int) -> None:
        progress[part] = line

    try:
        engine = build_engine(spec.db, policy_paths=spec.policy_paths, actor=spec.actor)
        try:
            report = import_file(
                engine,
                Path(path),
                on_line=advance,
                batch_size=batch_size,
                partition=(part, parts),
            )
        finally:
            engine.close()
    except SalesEngineError as e:
        results.put(("failed", part, isinstance(e, StoreUnavailable), e.message))
    except Exception as e:  # reported to the parent, which raises it
        traceback.print_exc()  # the worker's stderr is the import's: keep the whole story
        results.put(("failed", part, False, f"{type(e).__name__}: {e}"))
    else:
        progress[part] = report.lines  # done: it no longer holds the progress back
        results.put(("done", part, report))


def merge(path: Path, reports: Sequence[ImportReport]) -> ImportReport:
    merged = ImportReport(path=str(path))
    for report in reports:
        merged.lines = max(merged.lines, report.lines)
        merged.applied += report.applied
        merged.duplicates += report.duplicates
        merged.blank += report.blank
        merged.refused.extend(report.refused)
    merged.refused.sort(key=lambda e: e.line)
    return merged


def import_file_parallel(
    spec: EngineSpec,
    path: Path,
    *,
    workers: int,
    batch_size: int = 1000,
    on_line: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import ``path`` with ``workers`` processes; the report reads as a single import's.

    If a worker fails, the others are stopped and the error is raised. What the workers
    committed before stays committed, as after any interrupted import, and importing
    the file again applies only what is missing.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if in_one_process(spec):
        raise SalesEngineError("an in-memory store cannot be shared by import workers")
    # Workers start from a fresh interpreter: nothing of this process (open
    # connections, pools, threads) is shared with them.
    context = multiprocessing.get_context("spawn")
    progress = context.Array("q", workers, lock=False)
    results: multiprocessing.Queue[tuple[Any, ...]] = context.Queue()
    processes = [
        context.Process(
            target=_work,
            args=(spec, str(path), part, workers, batch_size, progress, results),
            name=f"salesengine-import-{part}",
            daemon=True,
        )
        for part in range(workers)
    ]
    for process in processes:
        process.start()
    reports: dict[int, ImportReport] = {}
    try:
        while len(reports) < workers:
            try:
                message = results.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if on_line is not None:
                    on_line(min(progress))
                _check_alive(processes, reports, results)
                continue
            if message[0] == "failed":
                _, part, unavailable, text = message
                error = StoreUnavailable if unavailable else SalesEngineError
                raise error(f"import worker {part}: {text}")
            reports[message[1]] = message[2]
    finally:
        for process in processes:
            if process.is_alive() and len(reports) < workers:
                process.terminate()
            process.join()
    report = merge(path, [reports[part] for part in range(workers)])
    if on_line is not None:
        on_line(report.lines)
    return report


def _check_alive(
    processes: Sequence[Any],
    reports: dict[int, ImportReport],
    results: multiprocessing.Queue[tuple[Any, ...]],
) -> None:
    for part, process in enumerate(processes):
        if part in reports or process.exitcode is None:
            continue
        if process.exitcode == 0:
            # Its report may still be in the pipe; one that never comes was lost.
            time.sleep(POLL_SECONDS)
            if not results.empty():
                return
        # A worker that died without a word (killed, out of memory) leaves no report.
        raise SalesEngineError(
            f"import worker {part} stopped unexpectedly (exit code {process.exitcode})"
        )
