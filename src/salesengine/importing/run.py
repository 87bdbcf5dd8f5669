"""One import of any format, as ``salesengine import`` runs it.

``plan_import`` checks the file and the options, chooses the format and the workers and
opens the store as early as a refused file allows; ``run_import`` then applies the rows
in one process or several. The caller parses the options and renders the report.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from salesengine.domain.errors import SalesEngineError
from salesengine.importing.common.csv_files import read_header
from salesengine.importing.common.errors import SourceError
from salesengine.importing.common.file_size import estimated_rows
from salesengine.importing.common.formats import FORMATS, SHAREABLE
from salesengine.importing.common.mapping_files import read_mapping
from salesengine.importing.common.stopping import Stopped
from salesengine.importing.crm_accounts import CsvAccounts
from salesengine.importing.jsonl import ImportReport, import_file
from salesengine.importing.parallel import (
    auto_workers,
    import_file_parallel,
    import_source_parallel,
)
from salesengine.importing.readers import reader, shared_check
from salesengine.importing.sources import SourceReport, import_source

if TYPE_CHECKING:
    from salesengine.application.engine import SalesEngine
    from salesengine.importing.workers import EngineFactory
    from salesengine.policies.catalog import PolicyCatalog


class ImportTarget(Protocol):
    """The store an import writes to, as the caller holds it."""

    def catalog(self) -> PolicyCatalog:
        """The policies, read without opening the store."""
        ...

    def store_missing(self) -> str | None:
        """The store's SQLite file, if it is not there yet (opening would create it)."""
        ...

    def engine(self) -> SalesEngine:
        """The engine on the store, opened (and if need be created) once."""
        ...

    def close(self) -> None:
        """Close the store: workers open their own, and must not inherit it."""
        ...

    def worker_engines(self) -> EngineFactory:
        """What each worker builds its own engine from."""
        ...


class OptionError(SourceError):
    """An option the import cannot run with: names the option and why."""


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """The import's options as given (``fmt`` and ``workers``: None to choose)."""

    fmt: str | None = None
    mapping: str | None = None
    policy: str | None = None
    batch_size: int = 1000
    workers: int | None = None


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """An import checked and ready to run: its format and workers, and for JSON Lines
    commands the file's lines (None for a source, whose rows are not counted ahead)."""

    file: Path
    fmt: str
    options: ImportOptions
    workers: int
    lines: int | None


def plan_import(file: Path, options: ImportOptions, target: ImportTarget) -> ImportPlan:
    """The import of ``file``, checked: a ``SourceError`` (an ``OptionError`` for an
    option) says what stops it, before anything is written."""
    if not file.is_file():
        if file.is_dir():
            raise SourceError(f"{file}: is a directory, not a file to import")
        if file.exists():
            raise SourceError(
                f"{file}: not a regular file (a device or a pipe); import from a file"
            )
        raise SourceError(f"{file}: no such file")
    fmt = guess_format(file, options.mapping) if options.fmt is None else options.fmt
    if fmt == "jsonl":
        if options.mapping is not None or options.policy is not None:
            raise OptionError(
                "--mapping and --policy apply to CRM exports and event logs, not to commands"
            )
        return _plan_commands(file, options, target)
    if fmt not in FORMATS:
        raise OptionError(f"--format: {fmt!r} is not one of jsonl, {', '.join(FORMATS)}")
    return _plan_source(file, fmt, options, target)


def _plan_commands(file: Path, options: ImportOptions, target: ImportTarget) -> ImportPlan:
    lines = _count_lines(file)
    target.engine()  # opens (and if need be creates) the store before any worker
    engines = target.worker_engines()
    workers = options.workers
    if workers is None:
        workers = auto_workers(engines, lines)
    elif workers > 1 and engines.in_one_process:
        raise OptionError("--workers: an in-memory store lives in one process; use --workers 1")
    return ImportPlan(file, "jsonl", options, workers, lines)


def _plan_source(file: Path, fmt: str, options: ImportOptions, target: ImportTarget) -> ImportPlan:
    if target.store_missing() is None:
        target.engine()  # an unreachable store fails before the file is read
    engines = target.worker_engines()
    workers = options.workers
    if fmt not in SHAREABLE or engines.in_one_process:
        if workers is not None and workers > 1:
            why = (
                "an in-memory store lives in one process"
                if fmt in SHAREABLE
                else f"a {fmt} import runs in one process"
            )
            raise OptionError(f"--workers: {why}; use --workers 1")
        workers = 1
    elif workers is None:
        workers = auto_workers(engines, estimated_rows(file))
    check_policy_option(options.policy, target.catalog())
    return ImportPlan(file, fmt, options, workers, None)


def run_import(
    plan: ImportPlan,
    target: ImportTarget,
    *,
    on_progress: Callable[[int], None] | None = None,
    stopped: Stopped | None = None,
    writing: Callable[[], AbstractContextManager[Any]] = nullcontext,
    fork: bool = False,
) -> ImportReport | SourceReport:
    """Apply the planned import; its report.

    ``on_progress`` gets the line or row reached. ``writing`` is entered around the part
    that writes (the caller's signal handling, say); ``stopped`` is asked between rows,
    and once it says so the import commits what it holds and reports ``interrupted``.
    ``fork``: this process runs no other thread, so workers may be forks of it (see
    ``workers.run_workers``)."""
    file, fmt, options, workers = plan.file, plan.fmt, plan.options, plan.workers
    batch_size = options.batch_size
    engines = target.worker_engines()
    if fmt == "jsonl":
        with writing():
            if workers > 1:
                target.close()  # the workers open their own; this one must not be inherited
                return import_file_parallel(
                    engines,
                    file,
                    workers=workers,
                    on_line=on_progress,
                    batch_size=batch_size,
                    fork=fork,
                    stopped=stopped,
                )
            return import_file(
                target.engine(), file, on_line=on_progress, batch_size=batch_size, stopped=stopped
            )
    mapping, policy = options.mapping, options.policy
    if workers > 1:
        # As below: a refused mapping leaves no new, empty store behind.
        shared_check(fmt)(file, mapping, policy, catalog=target.catalog())
        target.engine()  # opens (and if need be creates) the store before any worker
        target.close()  # the workers open their own; this one must not be inherited
        with writing():
            return import_source_parallel(
                engines,
                file,
                fmt,
                mapping,
                policy,
                workers=workers,
                batch_size=batch_size,
                on_row=on_progress,
                fork=fork,
                stopped=stopped,
            )
    # The file and its mapping are checked before the store is opened: a refused file
    # leaves no new, empty store behind.
    items = reader(fmt)(file, mapping, policy, catalog=target.catalog())
    # A CRM export's accounts file is read and checked before anything is written too.
    accounts = CsvAccounts.read(file, mapping) if fmt == "csv" else None
    if accounts is not None:
        items = accounts.watch(items)
    with writing():
        report = import_source(
            target.engine(),
            file,
            fmt,
            items,
            on_row=on_progress,
            batch_size=batch_size,
            stopped=stopped,
        )
        if accounts is not None and not report.interrupted:
            report.accounts = accounts.apply(target.engine())
        return report


def guess_format(path: Path, mapping: str | None = None) -> str:
    """The format of a file imported without ``--format``.

    .xes and .xes.gz files are event logs. A .csv file is a CRM export: the format its
    mapping declares, else a Salesforce export when its header has Salesforce's
    OpportunityId column, else (with a mapping) a generic CRM export. Any other file is
    JSON Lines commands.
    """
    name = path.name.lower()
    if name.endswith((".xes", ".xes.gz")):
        return "xes"
    if not name.endswith(".csv"):
        return "jsonl"
    declared = read_mapping(mapping)[1].get("format") if mapping is not None else None
    if declared is not None:
        # A mapping for xes, or for no format known, is refused on its format field by
        # the csv reader.
        return "salesforce" if declared == "salesforce" else "csv"
    try:
        # Salesforce's export settings, which its shipped mapping reads with.
        header = read_header(path, encoding="utf-8-sig", delimiter=",")
    except SourceError:
        if mapping is None:
            raise
        header = []  # not Salesforce's: the mapping's own encoding or delimiter reads it
    if "OpportunityId" in header:
        return "salesforce"
    if mapping is not None:
        return "csv"
    raise SourceError(
        f"{path}: a CSV file needs --format: csv with --mapping MAP for a CRM export "
        "(shipped: maven), or salesforce for an OpportunityHistory or "
        "OpportunityFieldHistory export"
    )


def check_policy_option(name: str | None, catalog: PolicyCatalog) -> None:
    """``--policy``, if given, names a policy of the catalog. Checked before the mapping,
    whose readers blame the policy they are given on the mapping's ``policy`` field."""
    if name is None:
        return
    try:
        catalog.get(name)
    except SalesEngineError as e:
        raise OptionError(f"--policy: {e}") from None


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
