"""An import spread over worker processes, one share of the deals each.

Every line of one deal goes to the same worker (``partition_of``; for source files,
``Share`` by the deal's name in the source), and each worker runs the ordinary import
over its share with its own engine and connection. So each
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
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from multiprocessing.context import ForkServerContext, SpawnContext
from multiprocessing.sharedctypes import SynchronizedArray
from pathlib import Path
from typing import Any

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.domain.errors import SalesEngineError, StoreUnavailable
from salesengine.importing.jsonl import ImportReport, import_file
from salesengine.importing.readers import shared_reader
from salesengine.importing.sources import (
    Share,
    SourceError,
    SourceReport,
    import_source,
    merge_reports,
)
from salesengine.persistence import store_settings

# Below this many lines, starting processes costs more than it saves.
MIN_LINES_PER_WORKER = 20_000
MAX_AUTO_WORKERS = 4
POLL_SECONDS = 0.2
DONE = -1  # a finished worker's position: it no longer holds the progress back


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


# Called by a worker once its reading is done, before its first write: it returns when
# every worker has read its share, and raises if one of them failed.
Ready = Callable[[], None]

# A job runs one worker's share: (engine, part, parts, progress callback, ready) -> report.
Job = Callable[[SalesEngine, int, int, Callable[[int], None], Ready], Any]


def _work(
    spec: EngineSpec,
    job: Job,
    part: int,
    parts: int,
    progress: SynchronizedArray[Any],
    results: multiprocessing.Queue[tuple[Any, ...]],
    barrier: threading.Barrier,
    opening: threading.Lock,
) -> None:
    def advance(row: int) -> None:
        progress[part] = row

    def ready() -> None:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            raise SalesEngineError("another worker failed; nothing was written") from None

    try:
        # One at a time: workers that start together would race to create the store's
        # tables, and PostgreSQL refuses the loser's CREATE TABLE IF NOT EXISTS.
        with opening:
            engine = build_engine(spec.db, policy_paths=spec.policy_paths, actor=spec.actor)
        try:
            report = job(engine, part, parts, advance, ready)
        finally:
            engine.close()
    except SalesEngineError as e:
        barrier.abort()
        results.put(("failed", part, isinstance(e, StoreUnavailable), e.message))
    except SourceError as e:  # the file's own fault: the parent raises it as it is
        barrier.abort()
        results.put(("failed", part, False, e))
    except Exception as e:  # reported to the parent, which raises it
        barrier.abort()
        traceback.print_exc()  # the worker's stderr is the import's: keep the whole story
        results.put(("failed", part, False, f"{type(e).__name__}: {e}"))
    else:
        progress[part] = DONE
        results.put(("done", part, report))


def run_workers(
    spec: EngineSpec,
    job: Job,
    *,
    workers: int,
    on_progress: Callable[[int], None] | None = None,
) -> list[Any]:
    """Run ``job`` in ``workers`` processes, one part each; their reports in part order.

    ``on_progress`` gets the smallest position any unfinished worker has reached. If a
    worker fails, the others are stopped and its error is raised here: the job's
    ``SourceError`` as it was, anything else as a ``SalesEngineError``. What the workers
    committed before stays committed, as after any interrupted import, and importing the
    file again applies only what is missing.
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if in_one_process(spec):
        raise SalesEngineError("an in-memory store cannot be shared by import workers")
    context = _context()
    progress = context.Array("q", workers, lock=False)
    results: multiprocessing.Queue[tuple[Any, ...]] = context.Queue()
    barrier = context.Barrier(workers)
    opening = context.Lock()
    processes = [
        context.Process(
            target=_work,
            args=(spec, job, part, workers, progress, results, barrier, opening),
            name=f"salesengine-import-{part}",
            daemon=True,
        )
        for part in range(workers)
    ]
    with _without_main_script():
        for process in processes:
            process.start()
    reports: dict[int, Any] = {}
    try:
        while len(reports) < workers:
            try:
                message = results.get(timeout=POLL_SECONDS)
            except queue.Empty:
                working = [row for row in progress if row != DONE]
                if on_progress is not None and working:
                    on_progress(min(working))
                _check_alive(processes, reports, results)
                continue
            if message[0] == "failed":
                barrier.abort()
                _, part, unavailable, error = message
                if isinstance(error, BaseException):
                    raise error
                raise (StoreUnavailable if unavailable else SalesEngineError)(
                    f"import worker {part}: {error}"
                )
            reports[message[1]] = message[2]
    finally:
        for process in processes:
            if process.is_alive() and len(reports) < workers:
                process.terminate()
            process.join()
    return [reports[part] for part in range(workers)]


def _context() -> SpawnContext | ForkServerContext:
    """Workers share nothing of this process (open connections, pools, threads): each is
    a fork of a fork server, a fresh interpreter that has loaded the import code once."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


@contextmanager
def _without_main_script() -> Iterator[None]:
    """Start workers without this process's main script.

    A new worker runs the parent's main script again unless it was started with ``-m``;
    for the ``salesengine`` command that loads the whole CLI, about a second per worker,
    for nothing: a worker's code is all in this module. A bare module stands in for
    ``__main__`` while the workers start.
    """
    main = sys.modules["__main__"]
    if getattr(main, "__spec__", None) is not None or not hasattr(main, "__file__"):
        yield  # ``python -m``, or an interactive session: nothing is run again
        return
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _jsonl_job(
    path: str,
    batch_size: int,
    engine: SalesEngine,
    part: int,
    parts: int,
    advance: Callable[[int], None],
    _ready: Ready,
) -> ImportReport:
    # Lines are checked one by one as they are applied; there is no reading pass.
    return import_file(
        engine, Path(path), on_line=advance, batch_size=batch_size, partition=(part, parts)
    )


def _source_job(
    path: str,
    fmt: str,
    mapping: str | None,
    policy: str | None,
    batch_size: int,
    engine: SalesEngine,
    part: int,
    parts: int,
    advance: Callable[[int], None],
    ready: Ready,
) -> SourceReport:
    # The reader checks the whole file before it returns; no worker writes before every
    # worker's reading has passed, so a broken file writes nothing.
    items = shared_reader(fmt)(Path(path), mapping, policy, share=Share(part, parts))
    ready()
    return import_source(engine, Path(path), fmt, items, on_row=advance, batch_size=batch_size)


def import_source_parallel(
    spec: EngineSpec,
    path: Path,
    fmt: str,
    mapping: str | None,
    policy: str | None,
    *,
    workers: int,
    batch_size: int = 1000,
    on_row: Callable[[int], None] | None = None,
) -> SourceReport:
    """Import a source file (a format in ``SHAREABLE``) with ``workers`` processes, each
    taking its share of the deals; the report reads as a single import's."""
    job = partial(_source_job, str(path), fmt, mapping, policy, batch_size)
    report = merge_reports(path, fmt, run_workers(spec, job, workers=workers, on_progress=on_row))
    if on_row is not None:
        on_row(report.rows)
    return report


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
    """Import ``path`` with ``workers`` processes; the report reads as a single import's."""
    job = partial(_jsonl_job, str(path), batch_size)
    report = merge(path, run_workers(spec, job, workers=workers, on_progress=on_line))
    if on_line is not None:
        on_line(report.lines)
    return report


def _check_alive(
    processes: Sequence[Any],
    reports: dict[int, Any],
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
