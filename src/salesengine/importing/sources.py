"""Pipeline history from other systems, applied through the same guarded path as live
writes.

A source reader (Salesforce history, CRM CSV, XES event log) turns the rows of a file
into commands of the command language, each with where it came from; rows it cannot
use become ``Skipped`` with the reason. ``import_source`` numbers the commands, checks
them, and applies them in order with ``SalesEngine.execute_many``: a command the policy
refuses is reported with its place in the source and the reason, never dropped.

Each command's id is derived from the source's own ids, so importing the same file
again, or a later export of the same system, adds nothing already there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from salesengine.application.commands import Command, parse_command
from salesengine.application.engine import SalesEngine
from salesengine.application.results import CommandResult, Refused
from salesengine.importing.common.allocation import bulk_allocation
from salesengine.importing.common.items import Noted, Rejected, Skipped, SourceItem
from salesengine.importing.common.stopping import Stopped, until_stopped
from salesengine.importing.common.validation import describe_validation


@dataclass(slots=True)
class Problem:
    where: str
    message: str
    row: int  # the source row (1-based): reports of import workers merge in file order

    def __reduce__(self) -> tuple[type[Problem], tuple[str, str, int]]:
        # An import worker sends tens of thousands of these; pickling a slotted
        # dataclass field by field took three times as long.
        return Problem, (self.where, self.message, self.row)


@dataclass(slots=True)
class AccountsReport:
    """What an import did with its accounts file (crm_accounts): accounts recorded,
    already recorded, refused and skipped (each with why)."""

    file: str
    recorded: int = 0
    unchanged: int = 0
    refused: list[Problem] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)


@dataclass(slots=True)
class SourceReport:
    path: str
    format: str
    rows: int = 0  # source rows read (records of a CSV, events of an XES log)
    commands: int = 0
    applied: int = 0
    duplicates: int = 0
    refused: list[Problem] = field(default_factory=list)  # each reason a row was refused
    skipped: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    # Rows, each counted once: refused (a command refused: then none of its commands is
    # written, but for one that stood alone), imported (a command applied), unchanged
    # (every command there already), skipped (no command).
    imported_rows: int = 0
    unchanged_rows: int = 0
    refused_rows: int = 0
    skipped_rows: int = 0
    # Stopped before the end (an interrupt): the rows counted are all committed.
    interrupted: bool = False
    # The accounts the mapping records beside the deals (None: it records none).
    accounts: AccountsReport | None = None


# A row's command ids come from its place in the source, so a row imported before and
# since changed arrives under the same ids with other content.
CHANGED = (
    "the row changed since it was imported, and history is not rewritten: "
    "record the change as a new command"
)


def command_id(fmt: str, source_id: str, seen: dict[str, int]) -> str:
    """A stable id per source row and repetition: the same file imports to the same ids."""
    count = seen.get(source_id, 0)
    seen[source_id] = count + 1
    digest = hashlib.sha256(f"{fmt}\x00{source_id}\x00{count}".encode()).hexdigest()[:32]
    return f"{fmt}-{digest}"


def import_source(
    engine: SalesEngine,
    path: Path,
    fmt: str,
    items: Iterable[SourceItem],
    *,
    on_row: Callable[[int], None] | None = None,
    batch_size: int = 1000,
    stopped: Stopped | None = None,
) -> SourceReport:
    """Apply a source's commands in order; refused and skipped rows are reported.

    A row's commands apply whole or not at all, and a refused row is reported with every
    reason (docs/importing.md, "Rows, whole or not at all"). ``stopped`` is asked between
    rows; once it says so, the import commits what it holds and reports ``interrupted``.
    """
    report = SourceReport(path=str(path), format=fmt)
    tally = _RowTally(report)
    rows = _RowCommands(path, fmt, report, tally)

    def interrupted() -> None:
        report.interrupted = True

    taken = until_stopped(items, stopped, lambda item: item.row, interrupted)
    with bulk_allocation():
        outcomes = engine.execute_many(
            rows.commands(taken), batch_size=batch_size, group_of=rows.group_of
        )
        for number, outcome in outcomes:
            place, row, _, columns = rows.where.pop(number)
            if isinstance(outcome, Refused):
                message = (
                    CHANGED
                    if outcome.code == "id_reused"
                    else in_source_terms(outcome.message, columns, outcome.code == "invalid_time")
                )
                why = None if outcome.code == "group_refused" else Problem(place, message, row)
                tally.refused(row, why)
            elif isinstance(outcome, CommandResult) and outcome.status == "duplicate":
                report.duplicates += 1
                tally.done(row, applied=False)
            else:
                report.applied += 1
                tally.done(row, applied=True)
            if on_row is not None:
                on_row(rows.last_row)
    tally.close()
    return report


class _RowCommands:
    """A source's items as numbered commands, a row at a time: a row's commands go out
    once all of them are read and checked, all or none."""

    def __init__(self, path: Path, fmt: str, report: SourceReport, tally: _RowTally) -> None:
        # The provenance names the file absolutely, wherever the import was run.
        self.source, self.fmt, self.report, self.tally = str(path.resolve()), fmt, report, tally
        # number -> place, row, group, source columns
        self.where: dict[int, tuple[str, int, int, dict[str, str] | None]] = {}
        self.held: list[tuple[int, Command, dict[str, str]]] = []  # the row's commands
        self.bad: list[Problem] = []  # what the command language refused of the group
        self.last_row = 0  # the source row read last, for progress

    def group_of(self, number: int) -> int:
        return self.where[number][2]

    def release(self) -> Iterator[tuple[int, Command, dict[str, str]]]:
        if not self.bad:
            yield from self.held
        else:
            for problem in self.bad:
                self.tally.refused(problem.row, problem)
            for number, _, _ in self.held:
                del self.where[number]
        self.held = []
        self.bad = []

    def commands(
        self, items: Iterable[SourceItem]
    ) -> Iterator[tuple[int, Command, dict[str, str]]]:
        report, tally = self.report, self.tally
        seen: dict[str, int] = {}
        group, last_row, last_alone = 0, None, False
        for item in items:
            self.last_row = max(self.last_row, item.row)
            if isinstance(item, Skipped):
                report.skipped.append(Problem(item.where, item.reason, item.row))
                tally.skipped(item.row)
                continue
            if isinstance(item, Noted):
                report.notes.append(Problem(item.where, item.note, item.row))
                continue
            if isinstance(item, Rejected):
                tally.refused(item.row, Problem(item.where, item.reason, item.row))
                continue
            if item.row != last_row or item.alone or last_alone:
                yield from self.release()
                group, last_row = group + 1, item.row
            last_alone = item.alone
            report.commands += 1
            number = report.commands
            if item.refusal is not None:
                self.bad.append(Problem(item.where, item.refusal, item.row))
                continue
            raw = dict(item.command)
            raw.setdefault("id", command_id(self.fmt, item.source_id, seen))
            try:
                command = parse_command(raw)
            except ValidationError as e:
                why = in_source_terms(describe_validation(e), item.columns)
                self.bad.append(Problem(item.where, why, item.row))
                continue
            self.where[number] = (item.where, item.row, group, item.columns)
            provenance = {"source": self.source, "format": self.fmt, "source_id": item.source_id}
            provenance.update(item.provenance)
            self.held.append((number, command, provenance))
        yield from self.release()


def in_source_terms(message: str, columns: dict[str, str] | None, timed: bool = False) -> str:
    """A refusal naming, beside each field it names, the source column the field came
    from; ``timed``: the refusal is of the command's time, which names no field."""
    if not columns:
        return message
    for name, column in columns.items():
        if column:
            message = message.replace(f"field '{name}'", f"field '{name}' (column {column})")
    if timed and columns.get("at"):
        message = f"{message} (column {columns['at']})"
    return message


class _RowTally:
    """Counts rows, not commands: a row is refused if any of its commands is, imported
    if one was applied, already imported if all were there. A refused row keeps every
    distinct reason given for it."""

    def __init__(self, report: SourceReport) -> None:
        self.report = report
        self.state: dict[int, str] = {}  # row -> refused, imported, unchanged, skipped
        self.reasons: dict[int, list[Problem]] = {}

    def skipped(self, row: int) -> None:
        self.state.setdefault(row, "skipped")

    def refused(self, row: int, why: Problem | None) -> None:
        self.state[row] = "refused"
        if why is not None:
            known = self.reasons.setdefault(row, [])
            if why not in known:
                known.append(why)

    def done(self, row: int, *, applied: bool) -> None:
        state = self.state.get(row)
        if state in {"refused", "imported"}:
            return
        self.state[row] = "imported" if applied else "unchanged"

    def close(self) -> None:
        report = self.report
        for row, state in self.state.items():
            if state == "refused":
                report.refused.extend(
                    self.reasons.get(row)
                    or [
                        Problem(
                            f"row {row}", "not applied: another command of its row was refused", row
                        )
                    ]
                )
        report.refused.sort(key=lambda p: p.row)  # stable: one row's reasons keep their order
        counts = dict.fromkeys(("imported", "unchanged", "refused", "skipped"), 0)
        for state in self.state.values():
            counts[state] += 1
        report.imported_rows = counts["imported"]
        report.unchanged_rows = counts["unchanged"]
        report.refused_rows = counts["refused"]
        report.skipped_rows = counts["skipped"]
        report.rows = sum(counts.values())


def merge_reports(path: Path, fmt: str, reports: Iterable[SourceReport]) -> SourceReport:
    """Import workers' reports as one: counts added, problems in the source's order."""
    merged = SourceReport(path=str(path), format=fmt)
    for report in reports:
        merged.rows += report.rows
        merged.commands += report.commands
        merged.applied += report.applied
        merged.duplicates += report.duplicates
        merged.refused.extend(report.refused)
        merged.skipped.extend(report.skipped)
        merged.notes.extend(report.notes)
        merged.imported_rows += report.imported_rows
        merged.unchanged_rows += report.unchanged_rows
        merged.refused_rows += report.refused_rows
        merged.skipped_rows += report.skipped_rows
        merged.interrupted = merged.interrupted or report.interrupted
    merged.refused.sort(key=lambda p: p.row)  # stable: one row's problems keep their order
    merged.skipped.sort(key=lambda p: p.row)
    merged.notes.sort(key=lambda p: p.row)
    return merged
