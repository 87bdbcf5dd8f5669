"""A rebuild's fold partitioned by deal across processes, with one writer.

Each fold process reads the whole log window by window, keeps the events of its share
of the deals (by the deal id, so a deal's events all go to one process) and folds them
exactly as the runner does, into the rows each read model would write. It does not
write them: it hands each window's rows to the one process that owns the read models'
database, which merges the shares of a window, numbers the funnel's points in log order
(``FunnelPoints.merge``), writes them in one transaction with the tracking positions and
commits, on a thread of its own, while the folds go on with the next window.

A fold process evicts the deals it has not touched for longest only once the windows
they were last touched in are committed: an evicted deal's rows are read back from the
read models' tables (``DealRowsProjection._load``) when it comes up again.

The process machinery (start, failure, interrupt) is the import's (``cli.parallel_
rebuild``); this module is what runs in it, and the writer's side.
"""

from __future__ import annotations

import resource
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from salesengine.projections.projection import Active, apply_batch
from salesengine.projections.registry import build_projections
from salesengine.projections.stored_events import StoredLog
from salesengine.projections.timeline import Timelines
from salesengine.store.notification_log import EventStore
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine

# Gives one window's share and gets the writer's verdict: go on (True) or stop.
Meet = Callable[[Any], Any]


def part_of(deal_id: str, parts: int) -> int:
    """The fold process (of ``parts``) that folds a deal: by its id's last 32 bits."""
    return int(deal_id[-8:], 16) % parts


class Folded(NamedTuple):
    """What one fold process did: the events it folded, and its peak resident memory."""

    events: int
    peak_rss: int  # bytes


class Share(NamedTuple):
    """One fold process's rows for one window of the log: per read model, what its
    ``take`` gave."""

    stop: int  # the window ends at this position
    events: int  # events folded
    taken: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FoldShare:
    """One fold process's job (picklable): its share of the deals, over the log up to
    ``head``, in windows of ``window`` positions, for the read models ``names``.

    It meets the other folds after each window: the writer's verdict says whether to go
    on. ``db`` is the store, whose read models' tables an evicted deal is read back from.
    """

    names: tuple[str, ...]
    head: int
    window: int
    capacity: int  # deals kept folded in this process
    db: str | None

    def __call__(
        self,
        engine: EventStore,
        part: int,
        parts: int,
        advance: Callable[[int], None],
        meet: Meet,
        stopped: Callable[[], bool],
    ) -> Folded:
        every = build_projections()
        projections = [p for p in every if p.name in self.names]
        log = StoredLog(engine, {name for p in every for name in p.topics})
        timelines = Timelines(log.history, capacity=self.capacity)
        active: list[Active] = [(p, 0, p.topics) for p in projections]

        def keep(deal_id: str) -> bool:
            return part_of(deal_id, parts) == part

        # Only reads (an evicted deal's rows): a reader takes no write lock on SQLite.
        reads = sql_engine(store_settings(self.db), reader=True)
        folded = 0
        try:
            for start in range(0, self.head, self.window):
                stop = min(start + self.window, self.head)
                batch = log.read(start, stop, keep)
                with reads.connect() as conn:
                    apply_batch(conn, batch, active, timelines)
                folded += len(batch)
                taken = {p.name: p.take() for p in projections}
                if not meet(Share(stop, len(batch), taken)) or stopped():
                    break
                # The writer has committed every window before this one, so the deals
                # evicted now (none of them touched in this window: it holds fewer deals
                # than the capacity) can be read back from the tables.
                timelines.trim()
                advance(stop)
        finally:
            reads.dispose()
        return Folded(folded, peak_rss())


def peak_rss() -> int:
    """This process's peak resident memory in bytes.

    ``VmHWM`` is the peak of this process's own address space; ``ru_maxrss``, the fallback
    where /proc has none, carries over a fork and exec the parent's size at the fork.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


class ShareWriter:
    """The writer's side: each window's shares written by ``write`` on a thread, while
    the folds go on with the next window. ``agree`` is the meeting's verdict: it waits
    for the window before, starts this one, and says whether to go on."""

    def __init__(self, write: Callable[[list[Share]], None]) -> None:
        self._write = write
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def agree(self, shares: list[Share]) -> bool:
        self._wait()
        if self.error is not None:
            return False
        thread = threading.Thread(
            target=self._run, args=(shares,), name="salesengine-rebuild-writer", daemon=True
        )
        thread.start()
        self._thread = thread  # only once started: ``finish`` joins it
        return True

    def finish(self) -> BaseException | None:
        """Wait for the last window; what stopped the writer, if anything did."""
        self._wait()
        return self.error

    def _wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self, shares: list[Share]) -> None:
        try:
            self._write(shares)
        except BaseException as e:  # raised by ``finish``'s caller, in the main thread
            self.error = e
