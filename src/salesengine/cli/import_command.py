"""``salesengine import``: options parsed, the import run (``importing.run``), reported."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from salesengine.cli.interrupt import (
    Interrupt,
    stopped_at_once,
    stopped_between_rows,
    stopping_gently,
)
from salesengine.cli.options import STATE
from salesengine.cli.render import err, fail, print_json, say, throttled

if TYPE_CHECKING:
    from salesengine.importing.jsonl import ImportReport
    from salesengine.importing.run import ImportPlan
    from salesengine.importing.sources import Problem, SourceReport


def import_command(
    file: Annotated[
        Path, typer.Argument(help="JSON Lines commands, or a CRM export or event log.")
    ],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="jsonl, salesforce, csv or xes. Default: xes for .xes/.xes.gz; for .csv, "
            "the mapping's format, else salesforce when the header has OpportunityId, else "
            "csv with a mapping; else jsonl.",
            show_default=False,
        ),
    ] = None,
    mapping: Annotated[
        str | None,
        typer.Option(
            help="Mapping of a CRM export or event log: a shipped name (bpi2012, maven, "
            "salesforce) or a YAML file.",
            show_default=False,
        ),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            help="Policy of the imported deals, instead of the mapping's.", show_default=False
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Worker processes, each applying the commands of its share of the deals. "
            "Default: one per core for a large file, else 1.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Apply the commands of a JSON Lines file in order; refused lines are listed.

    Each deal's commands are applied in file order. With several workers, different
    deals' commands may reach the store in another order than the file's.
    """
    from salesengine.domain.errors import StoreUnavailable
    from salesengine.importing.common.errors import SourceError
    from salesengine.importing.run import ImportOptions, plan_import, run_import

    options = ImportOptions(fmt, mapping, policy, batch_size, workers)
    try:
        plan = plan_import(file, options, STATE)
    except SourceError as e:
        fail(str(e))
    interrupt = Interrupt()
    try:
        with _progress(plan, as_json) as progress:
            task = progress.add_task("import", total=plan.lines, rate="")
            # Called per row by one process, or a few times a second with workers.
            lines = plan.lines is not None
            advance = throttled(
                progress,
                task,
                every=2000 if lines else 1000,
                unit="lines" if lines else "rows",
                redraw=plan.workers > 1,
            )
            report = run_import(
                plan,
                STATE,
                on_progress=advance,
                stopped=interrupt,
                writing=lambda: stopping_gently(interrupt),
                fork=True,
            )
    except SourceError as e:
        fail(str(e))
    except StoreUnavailable as e:
        # The store went away under the import (a restarted server, a full disk): each
        # batch commits whole, so what is there is whole rows, and the ids make a rerun
        # add only the rest.
        reason = e.message.strip().splitlines()[0]
        fail(
            f"{file}: the import stopped: {reason}; the rows it committed stay, and "
            "importing the same file again completes it",
            1,
        )
    except KeyboardInterrupt:
        stopped_at_once(file, interrupt)
    problems, summary, done = _told(file, report, plan.lines)
    if as_json:
        print_json(report)
    else:
        for problem in problems:
            err.print(escape(problem))
        if not report.interrupted:
            say(summary)
    if report.interrupted:
        stopped_between_rows(file, done, interrupt)
    accounts = getattr(report, "accounts", None)
    if report.refused or (accounts is not None and accounts.refused):
        raise typer.Exit(1)


def _progress(plan: ImportPlan, as_json: bool) -> Progress:
    """A bar of the file's lines, or, for a source whose rows are not counted ahead, a
    count of rows."""
    columns: list[ProgressColumn]
    if plan.lines is None:
        columns = [BarColumn(pulse_style="bar.pulse"), TextColumn("{task.completed:,} rows")]
        columns.append(TextColumn("{task.fields[rate]}"))
    else:
        columns = [BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}")]
        columns.append(TimeRemainingColumn())
    return Progress(
        TextColumn("importing"),
        *columns,
        console=err,
        disable=as_json or (plan.lines is not None and plan.lines < 5000),
        transient=True,
        auto_refresh=plan.workers == 1,  # workers fork this process: it must run no other thread
    )


def _told(
    file: Path, report: ImportReport | SourceReport, lines: int | None
) -> tuple[list[str], str, str]:
    """What the report tells: its problems, a line each; its summary; and, for an
    interrupted import, how far it got."""
    from salesengine.importing.jsonl import ImportReport

    if isinstance(report, ImportReport):
        counts = (
            f"{report.applied} applied, {report.duplicates} already applied, "
            f"{len(report.refused)} refused"
        )
        problems = [f"{file}:{p.line}: refused: {p.message}" for p in report.refused]
        blank = f", {report.blank} blank)" if report.blank else ")"
        summary = f"{file}: {counts} ({report.lines} lines" + blank
        return problems, summary, f"{report.lines:,} of {lines or 0:,} lines ({counts})"
    rows = (
        f"rows: {report.imported_rows} imported, {report.unchanged_rows} already imported, "
        f"{report.refused_rows} refused, {report.skipped_rows} skipped"
    )
    problems = [f"{file}: {p.where}: refused: {p.message}" for p in report.refused]
    problems += [f"{file}: {note.where}: note: {note.message}" for note in report.notes]
    problems += [f"{file}: {line}" for line in skip_summary(report.skipped)]
    summary = (
        f"{file}: {rows}; commands: {report.applied} applied, {report.duplicates} "
        "already applied" + (f"; {len(report.notes)} notes" if report.notes else "")
    )
    accounts = report.accounts
    if accounts is not None:
        problems += [f"{accounts.file}: {p.where}: refused: {p.message}" for p in accounts.refused]
        problems += [f"{accounts.file}: {line}" for line in skip_summary(accounts.skipped)]
        summary += (
            f"; accounts: {accounts.recorded} recorded, {accounts.unchanged} already "
            f"recorded, {len(accounts.refused)} refused, {len(accounts.skipped)} skipped"
        )
    return problems, summary, f"{report.rows:,} rows ({rows})"


SKIP_REASONS_SHOWN = 5
SKIP_PLACES_SHOWN = 2


def skip_summary(skipped: list[Problem]) -> list[str]:
    """Why rows were skipped, a line per reason, most frequent first, with the first rows
    skipped for it: a log skips tens of thousands of events for a handful of reasons
    (``--json`` lists every one)."""
    places: dict[str, list[str]] = {}
    for problem in skipped:
        places.setdefault(problem.message, []).append(problem.where)
    counts = Counter({reason: len(where) for reason, where in places.items()})
    common = counts.most_common(SKIP_REASONS_SHOWN)
    lines = [f"skipped {count:,}: {reason} ({_first(places[reason])})" for reason, count in common]
    rest = len(skipped) - sum(count for _, count in common)
    if rest:
        others = len(counts) - len(common)
        lines.append(
            f"skipped {rest:,} more, for {others:,} other reason{'s' * (others > 1)} "
            "(--json lists every row)"
        )
    return lines


def _first(places: list[str]) -> str:
    shown = "; ".join(places[:SKIP_PLACES_SHOWN])
    more = len(places) - SKIP_PLACES_SHOWN
    return f"{shown}; {more:,} more" if more > 0 else shown
