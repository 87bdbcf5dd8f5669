"""``salesengine export``: the event history for auditors' process-mining tools and BI."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from salesengine.cli.options import STATE, parse_time
from salesengine.cli.render import err, fail, say, when

if TYPE_CHECKING:
    from datetime import datetime

    from salesengine.application.engine import SalesEngine
    from salesengine.exporting.tables import ExportSummary

# The exporters load sqlalchemy (and pyarrow for parquet): they are imported when the command
# runs, not at start-up.

STDOUT = "-"

# Below this many deals an export takes a moment: no progress bar.
PROGRESS_FROM = 1000


def export_command(
    output: Annotated[
        # A string, not a Path: Path("./-") is "-", and a file named - must stay writable.
        str,
        typer.Argument(help="File (xes; - for standard output) or directory (csv, parquet)."),
    ],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="xes, csv or parquet. Default: what OUTPUT's name ends in (.xes, .xes.gz, "
            ".csv, .parquet); xes for -.",
            show_default=False,
        ),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Only events effective by T; default now.")
    ] = None,
    known_at: Annotated[
        str | None, typer.Option("--known-at", help="Only events recorded by K; default now.")
    ] = None,
) -> None:
    """Export every deal's events (and for csv/parquet its stage intervals).

    xes writes one IEEE 1849 event log (gzip-compressed if OUTPUT ends in .gz; to
    standard output if OUTPUT is -); csv and parquet write events.* and
    stage_intervals.* into the directory OUTPUT. Without --format, OUTPUT's suffix
    says the format; a suffix that says another than --format is refused.
    """
    from salesengine.exporting.tables import TableFormat, export_tables
    from salesengine.exporting.xes import export_xes, write_xes

    fmt = chosen_format(output, fmt)
    effective = parse_time(as_of, "--as-of")
    recorded = parse_time(known_at, "--known-at")
    target = _checked_target(output, fmt)
    engine = STATE.engine(create=False)
    now = engine.clock()
    effective = effective or now
    recorded = recorded or now
    keys = list(engine.deal_keys())
    started = time.perf_counter()
    with (
        Progress(
            TextColumn("exporting"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("deals"),
            TimeRemainingColumn(),
            console=err,
            disable=len(keys) < PROGRESS_FROM,
            transient=True,
        ) as progress,
        terminated_like_interrupted(),
    ):
        task = progress.add_task("export", total=len(keys))

        def tracked(keys: Sequence[str]) -> Iterator[str]:
            for done, key in enumerate(keys, 1):
                yield key
                if done % 200 == 0:
                    progress.update(task, completed=done)

        try:
            if target is None:
                summary = _to_stdout(write_xes, engine, effective, recorded, tracked(keys))
            elif fmt == "xes":
                summary = export_xes(engine, target, effective, recorded, keys=tracked(keys))
            else:
                table_format: TableFormat = "csv" if fmt == "csv" else "parquet"
                summary = export_tables(
                    engine, target, table_format, effective, recorded, keys=tracked(keys)
                )
        except OSError as e:
            fail(f"{output}: cannot write the export: {e.strerror or e}")
        except (ValueError, ArithmeticError) as e:  # pyarrow's errors derive from these
            fail(f"{output}: cannot write the export: {e}")
        if target is not None:
            summary.files.append(_manifest(target, fmt, summary, effective, recorded))
    seconds = time.perf_counter() - started
    # On standard output the log is the output: the summary goes to standard error.
    tell = err_say if target is None else say
    _report(summary, fmt, seconds, when(effective), when(recorded), tell)


# What the end of an output's name says of its format.
SUFFIXES = ((".xes.gz", "xes"), (".xes", "xes"), (".csv", "csv"), (".parquet", "parquet"))
FORMATS = ("xes", "csv", "parquet")


def named_format(output: str) -> str | None:
    """The format the output's name says by its suffix, if any (the case of the letters
    aside)."""
    name = output.rstrip("/" + os.sep).lower()
    return next((fmt for suffix, fmt in SUFFIXES if name.endswith(suffix)), None)


def chosen_format(output: str, given: str | None) -> str:
    """The export's format: --format, else the output's suffix (xes for standard
    output); exits 2, before anything is read or written, when neither says one or
    the two disagree."""
    if given is not None and given not in FORMATS:
        fail(f"--format: {given!r} is not one of {', '.join(FORMATS)}")
    named = None if output == STDOUT else named_format(output)
    if given is not None and named is not None and named != given:
        fail(
            f"{output}: the name says {named}, --format says {given}; "
            "make them agree (or leave --format out)"
        )
    found = given or named or ("xes" if output == STDOUT else None)
    if found is None:
        if Path(output).is_dir() or output.endswith(("/", os.sep)):
            fail(f"{output}: a directory takes csv or parquet: give --format csv or parquet")
        fail(
            f"{output}: the name does not say the format: end it in .xes, .xes.gz, "
            ".csv or .parquet, or give --format"
        )
    return found


# Signals that end a process unless handled: SIGTERM (a service manager, ``timeout``,
# ``kill``) and SIGHUP (a closed terminal or a dropped ssh session).
ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextmanager
def terminated_like_interrupted() -> Iterator[None]:
    """A signal that ends the process ends the export as Ctrl-C does: through its
    clean-up, so no part-written file is left beside the output."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    previous = {signum: signal.signal(signum, stop) for signum in ENDING_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _manifest(
    target: Path, fmt: str, summary: ExportSummary, as_of: datetime, known_at: datetime
) -> Path:
    """Write the audit manifest beside the export (docs/audit.md, "Export manifests")."""
    from salesengine.audit.manifest import write_manifest
    from salesengine.store.settings import store_settings
    from salesengine.store.sql import sql_engine

    settings = store_settings(STATE.db, creating=False)
    sql = sql_engine(settings, reader=True)
    about = {"export_format": fmt, "as_of": as_of.isoformat(), "known_at": known_at.isoformat()}
    try:
        return write_manifest(settings, sql, target, summary.files, summary.positions, about)
    except OSError as e:
        fail(f"{target}: the export is written, its manifest is not: {e.strerror or e}")
    finally:
        sql.dispose()


def err_say(message: str) -> None:
    err.print(escape(message))


def _checked_target(output: str, fmt: str) -> Path | None:
    """The file or directory to write (None: standard output); exits 2, before reading
    anything, if the export cannot go there."""
    target: Path | None = None
    if output == STDOUT:
        if fmt != "xes":
            fail(f"-: standard output takes one file; {fmt} is written into a directory")
        problem = "standard output is closed" if sys.stdout is None else _missing_store()
    else:
        target = Path(output)
        if target.is_symlink():
            target = target.resolve()  # the export replaces the link's target, not the link
        problem = _output_problem(target, fmt) or _missing_store()
    if problem:
        fail(problem if problem.startswith("no event store") else f"{output}: {problem}")
    return target


def _to_stdout(
    write: Callable[..., ExportSummary],
    engine: SalesEngine,
    as_of: datetime,
    known_at: datetime,
    keys: Iterator[str],
) -> ExportSummary:
    stdout = sys.stdout
    try:
        summary = write(engine, stdout.buffer, as_of, known_at, keys=keys)
        stdout.flush()
    except BrokenPipeError:
        # The reader stopped reading (`| head`): like any filter, stop quietly, with the
        # status of a process ended by SIGPIPE. What is still buffered goes nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
        raise typer.Exit(128 + signal.SIGPIPE) from None
    return summary


def _output_problem(output: Path, fmt: str) -> str | None:
    """Why the export cannot be written where asked, found before reading anything."""
    if fmt == "xes":
        if output.is_dir():
            return "is a directory; xes is written to a file"
        if not output.parent.is_dir():
            return f"directory {output.parent} does not exist"
        return _not_a_file(output)
    if output.exists() and not output.is_dir():
        return f"is a file; {fmt} is written into a directory (events.{fmt}, ...)"
    for name in (f"events.{fmt}", f"stage_intervals.{fmt}"):
        problem = _not_a_file(output / name)
        if problem:
            return f"{name} {problem}"
    return None


def _not_a_file(path: Path) -> str | None:
    # A written export replaces what is there: never a device, a pipe or a socket.
    if path.exists() and not path.is_file():
        return "is not a regular file (a device, pipe or socket); it is left alone"
    return None


def _missing_store() -> str | None:
    """An export reads a store: a SQLite file that is not there is a mistyped path, not
    an empty store to create."""
    name = STATE.store_missing()
    if name is not None:
        return f"no event store at {name}; nothing to export (check --db or SALESENGINE_DB)"
    return None


def _report(
    summary: ExportSummary,
    fmt: str,
    seconds: float,
    as_of: str,
    known_at: str,
    tell: Callable[[str], None],
) -> None:
    rate = summary.events / seconds if seconds > 0 else 0.0
    intervals = f", {summary.intervals} stage intervals" if fmt != "xes" else ""
    tell(
        f"exported {summary.deals} deals, {summary.events} events{intervals} "
        f"as of {as_of}, known at {known_at}, in {seconds:.1f} s ({rate:,.0f} events/s)"
    )
    for path in summary.files:
        tell(f"  {path}")
