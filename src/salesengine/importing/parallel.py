"""Imports shared among worker processes: each worker imports its share of the deals.

Every command of one deal goes to the same worker (``jsonl.partition_of`` by the deal's
key; for source files, ``Share`` by the deal's name, or a split by place the workers
agree on), so each deal's commands apply in file order, with the checks of a
single-process import; the merged report reads as a single import's (docs/rules.md,
"Imports with several workers").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from salesengine.application.engine import SalesEngine
from salesengine.importing.common.sharing import Meet, Share
from salesengine.importing.common.stopping import Stopped
from salesengine.importing.jsonl import ImportReport, import_file
from salesengine.importing.readers import shared_agreement, shared_reader
from salesengine.importing.sources import SourceReport, import_source, merge_reports
from salesengine.importing.workers import EngineFactory, run_workers

# Below this many lines, starting processes costs more than it saves.
MIN_LINES_PER_WORKER = 20_000
MAX_AUTO_WORKERS = 4


def auto_workers(engines: EngineFactory, lines: int) -> int:
    """As many workers as cores and the file size justify; one for an in-memory store."""
    if engines.in_one_process:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, MAX_AUTO_WORKERS, lines // MIN_LINES_PER_WORKER))


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
    engines: EngineFactory,
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
    for ``workers.run_workers``."""
    job = partial(_source_job, str(path), fmt, mapping, policy, batch_size)
    agree = shared_agreement(fmt)
    shares = run_workers(
        engines, job, workers=workers, on_progress=on_row, fork=fork, agree=agree, stopped=stopped
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
    engines: EngineFactory,
    path: Path,
    *,
    workers: int,
    batch_size: int = 1000,
    on_line: Callable[[int], None] | None = None,
    fork: bool = False,
    stopped: Stopped | None = None,
) -> ImportReport:
    """Import ``path`` with ``workers`` processes; the report reads as a single import's.
    ``fork`` as for ``workers.run_workers``."""
    job = partial(_jsonl_job, str(path), batch_size)
    shares = run_workers(
        engines, job, workers=workers, on_progress=on_line, fork=fork, stopped=stopped
    )
    report = merge(path, shares)
    if on_line is not None:
        on_line(report.lines)
    return report
