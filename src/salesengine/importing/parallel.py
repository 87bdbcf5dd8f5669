"""An import spread over worker processes, one share of the deals each.

Every line of one deal goes to the same worker (``partition_of``; for source files,
``Share`` by the deal's name in the source, or a split by place that the workers agree
on when they meet), and each worker runs the ordinary import over its share with its
own engine and connection. So each deal's commands are still applied in file order,
with the same checks, batching, idempotency and conflict handling as a single-process
import; only the order in which different deals' batches reach the store is the
workers' own. A JSON Lines worker reads the whole file, which costs a JSON decode per
foreign line, far less than the validation and decision it skips.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection
from multiprocessing.context import ForkContext, ForkServerContext, SpawnContext
from multiprocessing.sharedctypes import Synchronized, SynchronizedArray
from pathlib import Path
from typing import Any

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.domain.errors import SalesEngineError, StoreUnavailable
from salesengine.importing.common.errors import SourceError
from salesengine.importing.common.sharing import Meet, Share
from salesengine.importing.common.stopping import Stopped
from salesengine.importing.jsonl import ImportReport, import_file
from salesengine.importing.readers import shared_agreement, shared_reader
from salesengine.importing.sources import SourceReport, import_source, merge_reports
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


# A job runs one worker's share: (engine, part, parts, progress callback, meet, stopped)
# -> report.
Job = Callable[[SalesEngine, int, int, Callable[[int], None], Meet, Stopped], Any]


def _work(
    spec: EngineSpec,
    job: Job,
    part: int,
    parts: int,
    progress: SynchronizedArray[Any],
    results: multiprocessing.Queue[tuple[Any, ...]],
    replies: Connection,
    opening: threading.Lock,
    stopping: Synchronized[int],
) -> None:
    # A fork inherits the parent's streams as they were, perhaps a progress display's
    # proxies: a worker writes (tracebacks) to the process's own.
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    # The parent decides when to stop (Ctrl-C reaches the whole process group): a worker
    # stops between rows once the parent sets ``stopping``, and is ended by SIGTERM only
    # when the import fails. A fork inherits the parent's handlers: put both back.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # What the worker inherited lives as long as it does: the collector need not scan it
    # (nor, in a fork, touch its pages).
    gc.freeze()

    def advance(row: int) -> None:
        progress[part] = row

    rounds = itertools.count()

    parent = os.getppid()

    def meet(value: Any) -> Any:
        # The parent answers once every worker has given its value for this round; if one
        # fails first, the parent stops the others while they wait here. If the parent
        # itself is gone (killed), nobody will answer: the worker is adopted, and stops.
        results.put(("meet", part, next(rounds), value))
        while not replies.poll(POLL_SECONDS):
            if os.getppid() != parent:
                raise SalesEngineError("the import was stopped: its process is gone")
        return replies.recv()

    try:
        # One at a time: workers that start together would race to create the store's
        # tables, and PostgreSQL refuses the loser's CREATE TABLE IF NOT EXISTS.
        with opening:
            engine = build_engine(spec.db, policy_paths=spec.policy_paths, actor=spec.actor)
        try:
            report = job(engine, part, parts, advance, meet, lambda: bool(stopping.value))
        finally:
            engine.close()
    except SalesEngineError as e:
        results.put(("failed", part, isinstance(e, StoreUnavailable), e.message))
    except SourceError as e:  # the file's own fault: the parent raises it as it is
        results.put(("failed", part, False, e))
    except Exception as e:  # reported to the parent, which raises it
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
    fork: bool = False,
    agree: Callable[[list[Any]], Any] = list,
    stopped: Stopped | None = None,
) -> list[Any]:
    """Run ``job`` in ``workers`` processes, one part each; their reports in part order.

    ``on_progress`` gets the smallest position any unfinished worker has reached. If a
    worker fails, the others are stopped and its error is raised here: the job's
    ``SourceError`` as it was, anything else as a ``SalesEngineError``. What the workers
    committed before stays committed, as after any interrupted import, and importing the
    file again applies only what is missing.

    A job may ``meet`` the others any number of times, each job as many times: each
    worker gives a value and, once every worker has, gets ``agree`` of all the values in
    part order (by default, their list). It serves as a barrier too. Keep the answer
    small: it goes down each worker's pipe while the parent waits.

    ``fork``: the caller holds no open store connection (a child must not even close an
    inherited one), so the workers may be forks of this process itself (see ``_context``).

    ``stopped``: asked here a few times a second; once it says so, every worker stops
    between rows, commits what it holds and reports (``interrupted``).
    """
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if in_one_process(spec):
        raise SalesEngineError("an in-memory store cannot be shared by import workers")
    context = _context(fork)
    progress = context.Array("q", workers, lock=False)
    results: multiprocessing.Queue[tuple[Any, ...]] = context.Queue()
    opening = context.Lock()
    stopping = context.Value("b", 0, lock=False)
    pipes = [context.Pipe(duplex=False) for _ in range(workers)]  # (worker's end, ours)
    processes = [
        context.Process(
            target=_work,
            args=(spec, job, part, workers, progress, results, pipes[part][0], opening, stopping),
            name=f"salesengine-import-{part}",
            daemon=True,
        )
        for part in range(workers)
    ]
    with _without_main_script():
        for process in processes:
            process.start()
    reports: dict[int, Any] = {}
    meetings: dict[int, dict[int, Any]] = {}  # round -> part -> value given
    try:
        while len(reports) < workers:
            if stopped is not None and not stopping.value and stopped():
                stopping.value = 1
            try:
                message = results.get(timeout=POLL_SECONDS)
            except queue.Empty:
                working = [row for row in progress if row != DONE]
                if on_progress is not None and working:
                    on_progress(min(working))
                _check_alive(processes, reports, results)
                continue
            if message[0] == "meet":
                _, part, round_, value = message
                given = meetings.setdefault(round_, {})
                given[part] = value
                if len(given) == workers:
                    answer = agree([given[p] for p in range(workers)])
                    for _, ours in pipes:
                        ours.send(answer)
                    del meetings[round_]
                continue
            if message[0] == "failed":
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
        for theirs, ours in pipes:
            theirs.close()
            ours.close()
    return [reports[part] for part in range(workers)]


def _context(fork: bool = False) -> ForkContext | SpawnContext | ForkServerContext:
    """Workers share nothing of this process (open connections, pools, threads).

    They are forks of a fork server, a fresh interpreter that has loaded the import code
    once. With ``fork``, and while this process runs a single thread (a fork copies no
    other thread, but does copy any lock one of them held), they are forks of this
    process instead, which has loaded that code already: it spares the fork server's
    start, about half a second.
    """
    methods = multiprocessing.get_all_start_methods()
    # Linux only: elsewhere (macOS) system libraries are not safe to use after a fork.
    if fork and sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" not in methods:
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
    _meet: Meet,
    stopped: Stopped,
) -> ImportReport:
    # Lines are checked one by one as they are applied; there is no reading pass.
    return import_file(
        engine,
        Path(path),
        on_line=advance,
        batch_size=batch_size,
        partition=(part, parts),
        stopped=stopped,
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
    meet: Meet,
    stopped: Stopped,
) -> SourceReport:
    # The reader checks the whole file and meets the other workers before it returns, so
    # no worker writes before every worker's reading has passed: a broken file writes
    # nothing.
    share = Share(part, parts)
    read = shared_reader(fmt)(
        Path(path), mapping, policy, share=share, meet=meet, catalog=engine.catalog
    )
    position = read.position
    return import_source(
        engine,
        Path(path),
        fmt,
        read.items,
        on_row=lambda row: advance(position(row)),
        batch_size=batch_size,
        stopped=stopped,
    )


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
    fork: bool = False,
    stopped: Stopped | None = None,
) -> SourceReport:
    """Import a source file (a format in ``SHAREABLE``) with ``workers`` processes, each
    taking its share of the deals; the report reads as a single import's. ``fork`` as
    for ``run_workers``."""
    job = partial(_source_job, str(path), fmt, mapping, policy, batch_size)
    agree = shared_agreement(fmt)
    shares = run_workers(
        spec, job, workers=workers, on_progress=on_row, fork=fork, agree=agree, stopped=stopped
    )
    report = merge_reports(path, fmt, shares)
    if on_row is not None:
        on_row(report.rows)
    return report


def merge(path: Path, reports: Sequence[ImportReport]) -> ImportReport:
    merged = ImportReport(path=str(path))
    merged.interrupted = any(report.interrupted for report in reports)
    for report in reports:
        # Each worker reads every line; stopped, the lines done are its own share's.
        merged.lines = (
            merged.lines + report.done if merged.interrupted else max(merged.lines, report.lines)
        )
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
    fork: bool = False,
    stopped: Stopped | None = None,
) -> ImportReport:
    """Import ``path`` with ``workers`` processes; the report reads as a single import's.
    ``fork`` as for ``run_workers``."""
    job = partial(_jsonl_job, str(path), batch_size)
    shares = run_workers(
        spec, job, workers=workers, on_progress=on_line, fork=fork, stopped=stopped
    )
    report = merge(path, shares)
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
