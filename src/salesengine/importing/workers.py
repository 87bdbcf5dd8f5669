"""Worker processes, each running one share of an import with its own engine.

The parent starts them, passes on their meetings, shows the slowest one's progress and
stops them all if one fails or an interrupt asks. How and why: docs/importing.md,
"Worker processes".
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
from multiprocessing.connection import Connection
from multiprocessing.context import ForkContext, ForkServerContext, SpawnContext
from multiprocessing.sharedctypes import Synchronized, SynchronizedArray
from typing import Any, Protocol

from salesengine.application.engine import SalesEngine
from salesengine.domain.errors import SalesEngineError, StoreUnavailable
from salesengine.importing.common.errors import SourceError
from salesengine.importing.common.sharing import Meet
from salesengine.importing.common.stopping import Stopped

POLL_SECONDS = 0.2
DONE = -1  # a finished worker's position: it no longer holds the progress back


class EngineFactory(Protocol):
    """Builds a worker's engine in the worker (engines do not cross processes: the
    factory is pickled to it). ``in_one_process``: the store lives in one process only
    (an in-memory SQLite store), so workers cannot share it."""

    @property
    def in_one_process(self) -> bool: ...

    def __call__(self) -> SalesEngine: ...


# A job runs one worker's share: (engine, part, parts, progress callback, meet, stopped)
# -> report.
Job = Callable[[SalesEngine, int, int, Callable[[int], None], Meet, Stopped], Any]


@dataclass(frozen=True, slots=True)
class Meeting:
    """A worker's value for one round of a meeting; it waits for the verdict."""

    part: int
    round: int
    value: Any


@dataclass(frozen=True, slots=True)
class Failed:
    """A worker's failure: the file's own ``SourceError``, raised as it is, or what any
    other error said; ``unavailable``: the store could not be reached."""

    part: int
    error: SourceError | str
    unavailable: bool = False


@dataclass(frozen=True, slots=True)
class Done:
    """A worker's report of its share."""

    part: int
    report: Any


# What a worker sends the parent.
Message = Meeting | Failed | Done


def _work(
    engines: EngineFactory,
    job: Job,
    part: int,
    parts: int,
    progress: SynchronizedArray[Any],
    results: multiprocessing.Queue[Message],
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
        results.put(Meeting(part, next(rounds), value))
        while not replies.poll(POLL_SECONDS):
            if os.getppid() != parent:
                raise SalesEngineError("the import was stopped: its process is gone")
        return replies.recv()

    try:
        # One at a time: workers that start together would race to create the store's
        # tables, and PostgreSQL refuses the loser's CREATE TABLE IF NOT EXISTS.
        with opening:
            engine = engines()
        try:
            report = job(engine, part, parts, advance, meet, lambda: bool(stopping.value))
        finally:
            engine.close()
    except SalesEngineError as e:
        results.put(Failed(part, e.message, unavailable=isinstance(e, StoreUnavailable)))
    except SourceError as e:  # the file's own fault: the parent raises it as it is
        results.put(Failed(part, e))
    except Exception as e:  # reported to the parent, which raises it
        traceback.print_exc()  # the worker's stderr is the import's: keep the whole story
        results.put(Failed(part, f"{type(e).__name__}: {e}"))
    else:
        progress[part] = DONE
        results.put(Done(part, report))


def run_workers(
    engines: EngineFactory,
    job: Job,
    *,
    workers: int,
    on_progress: Callable[[int], None] | None = None,
    fork: bool = False,
    agree: Callable[[list[Any]], Any] = list,
    stopped: Stopped | None = None,
    role: str = "import",
) -> list[Any]:
    """Run ``job`` in ``workers`` processes, one part each; their reports in part order.

    A job may ``meet`` the others: each gives a value and gets ``agree`` of all of them.
    ``on_progress`` gets the slowest worker's position; ``stopped`` stops every worker
    between rows; ``fork``: the caller holds no store connection and runs one thread.
    A worker's failure stops the others and is raised here."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    if engines.in_one_process:
        raise SalesEngineError(f"an in-memory store cannot be shared by {role} workers")
    context = _context(fork, _preload(job, engines))
    progress = context.Array("q", workers, lock=False)
    results: multiprocessing.Queue[Message] = context.Queue()
    opening = context.Lock()
    stopping = context.Value("b", 0, lock=False)
    pipes = [context.Pipe(duplex=False) for _ in range(workers)]  # (worker's end, ours)
    processes = [
        context.Process(
            target=_work,
            args=(
                engines,
                job,
                part,
                workers,
                progress,
                results,
                pipes[part][0],
                opening,
                stopping,
            ),
            name=f"salesengine-{role}-{part}",
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
                _check_alive(processes, reports, results, role)
                continue
            match message:
                case Meeting(part, round_, value):
                    given = meetings.setdefault(round_, {})
                    given[part] = value
                    if len(given) == workers:
                        answer = agree([given[p] for p in range(workers)])
                        for _, ours in pipes:
                            ours.send(answer)
                        del meetings[round_]
                case Failed(part, error, unavailable):
                    if isinstance(error, BaseException):
                        raise error
                    raise (StoreUnavailable if unavailable else SalesEngineError)(
                        f"{role} worker {part}: {error}"
                    )
                case Done(part, report):
                    reports[part] = report
    finally:
        for process in processes:
            if process.is_alive() and len(reports) < workers:
                process.terminate()
            process.join()
        for theirs, ours in pipes:
            theirs.close()
            ours.close()
    return [reports[part] for part in range(workers)]


def _preload(job: Job, engines: EngineFactory) -> list[str]:
    """The modules a worker runs: this one, the job's and the engine factory's."""
    function = getattr(job, "func", job)  # a partial's own function
    return sorted({__name__, function.__module__, type(engines).__module__})


def _context(fork: bool, preload: list[str]) -> ForkContext | SpawnContext | ForkServerContext:
    """Workers share nothing of this process (connections, pools, threads): they are
    forks of a fork server that has loaded ``preload`` once, or with ``fork``, while
    this process runs one thread, forks of this process, sparing the server's start."""
    methods = multiprocessing.get_all_start_methods()
    # Linux only: elsewhere (macOS) system libraries are not safe to use after a fork.
    if fork and sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" not in methods:
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(preload)
    return context


@contextmanager
def _without_main_script() -> Iterator[None]:
    """Start workers without this process's main script, which a new worker would run
    again (for ``salesengine``, the whole CLI): a bare module stands in for it."""
    main = sys.modules["__main__"]
    if getattr(main, "__spec__", None) is not None or not hasattr(main, "__file__"):
        yield  # ``python -m``, or an interactive session: nothing is run again
        return
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _check_alive(
    processes: Sequence[Any],
    reports: dict[int, Any],
    results: multiprocessing.Queue[Message],
    role: str,
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
            f"{role} worker {part} stopped unexpectedly (exit code {process.exitcode})"
        )
