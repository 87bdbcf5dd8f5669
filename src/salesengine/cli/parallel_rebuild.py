"""A rebuild folded by several processes: the import's worker processes, each running
one share of the fold (``projections.parallel_fold``), this process writing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from salesengine.cli.worker_engines import EngineSpec
from salesengine.importing.workers import run_workers
from salesengine.projections.parallel_fold import Folded, FoldShare, Share


@dataclass(frozen=True, slots=True)
class FoldInProcesses:
    """A ``runner.Fold``: ``workers`` fold processes on the store of ``engines``."""

    engines: EngineSpec
    workers: int

    def __call__(
        self,
        names: tuple[str, ...],
        head: int,
        window: int,
        capacity: int,
        agree: Callable[[list[Share]], bool],
    ) -> list[Folded]:
        job = self.job(names, head, window, capacity)
        return run_workers(self.engines, job, workers=self.workers, agree=agree, role="rebuild")

    def job(self, names: tuple[str, ...], head: int, window: int, capacity: int) -> FoldShare:
        """What each fold process runs. Each holds its own share of the deals: the runner's
        capacity between them, and at least two windows' deals, which the eviction relies
        on (parallel_fold)."""
        share = max(capacity // self.workers, 2 * window)
        return FoldShare(names, head, window, share, self.engines.db)
