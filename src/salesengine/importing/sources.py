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
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from salesengine.application.commands import Command, parse_command
from salesengine.application.engine import Refused, SalesEngine
from salesengine.application.results import CommandResult
from salesengine.importing.jsonl import bulk_allocation, describe_validation

MAPPINGS_DIR = Path(__file__).with_name("mappings")


# Source items and problems are not frozen dataclasses, though nothing changes them: an
# import makes one per row, and a frozen dataclass's __init__ costs four times as much.


@dataclass(slots=True)
class SourceCommand:
    """One command made from a source row."""

    where: str  # for people: "line 12", "trace 173688, event 4"
    source_id: str  # the row's own id in the source, e.g. an OpportunityHistory Id
    command: dict[str, Any]  # the command language's fields; "id" is set on import
    row: int  # the source row it came from (1-based), for progress and counts
    provenance: dict[str, str] = field(default_factory=dict)  # extra: "trace", "line"


@dataclass(slots=True)
class Skipped:
    """A source row that makes no command, and why."""

    where: str
    reason: str
    row: int


@dataclass(slots=True)
class Noted:
    """Something the report should say of a row whose commands still apply: what the
    source cannot tell (e.g. a stage at creation a field history does not hold)."""

    where: str
    note: str
    row: int


SourceItem = SourceCommand | Skipped | Noted


@dataclass(frozen=True, slots=True)
class Share:
    """One worker's part of a source's deals: ``part`` of ``parts``. ``owns`` chooses by
    a stable hash of the deal's name in the source, so every run splits a file the same
    way; a reader may split by place in the file instead (XES, ``xes.read_shared``)."""

    part: int
    parts: int

    def owns(self, name: str) -> bool:
        return zlib.crc32(name.encode("utf-8", "surrogatepass")) % self.parts == self.part


# Where import workers meet: each gives a value and, once all have, gets the verdict on
# all of them that the reader's ``agree`` gives (see ``parallel.run_workers``).
Meet = Callable[[Any], Any]


def _same_row(row: int) -> int:
    return row


@dataclass(frozen=True, slots=True)
class SharedRead:
    """One worker's share of a source: its items, how far a row of the share is through
    the whole file, in rows (for the progress of the slowest worker), and how the file
    was shared: by deal name (``Share.owns``) or by place."""

    items: Iterator[SourceItem]
    position: Callable[[int], int] = _same_row
    by: Literal["name", "place"] = "name"


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
class SourceReport:
    path: str
    format: str
    rows: int = 0  # source rows read (lines of a CSV, events of an XES log)
    commands: int = 0
    applied: int = 0
    duplicates: int = 0
    refused: list[Problem] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)


class SourceError(ValueError):
    """A source file that cannot be read at all: names the file, the place and why.

    (A row that can be read but not used is a ``Skipped`` item, not an error.)"""


class MappingError(SourceError):
    """A mapping file that cannot be used: names the file and the field."""


def resolve_mapping(name_or_path: str) -> Path:
    """A shipped mapping by name (``bpi2012``, ``maven``, ...), or a mapping file."""
    shipped = MAPPINGS_DIR / f"{name_or_path}.yaml"
    if "/" not in name_or_path and "\\" not in name_or_path and shipped.is_file():
        return shipped
    path = Path(name_or_path)
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml")))
        raise MappingError(f"{name_or_path}: no such mapping file, nor a shipped one ({names})")
    return path


def load_mapping(name_or_path: str) -> tuple[Path, dict[str, Any]]:
    """The mapping file and its YAML content (a mapping at the top)."""
    path = resolve_mapping(name_or_path)
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise MappingError(f"{path}: cannot read the mapping: {e}") from None
    if not isinstance(content, dict):
        raise MappingError(f"{path}: a mapping file holds a YAML mapping at the top")
    return path, content


def mapping_problem(path: Path, error: ValidationError) -> MappingError:
    """A pydantic error on a mapping, naming the file and each bad field."""
    return MappingError(f"{path}: {describe_validation(error)}")


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
) -> SourceReport:
    """Apply a source's commands in order; refused and skipped rows are reported."""
    report = SourceReport(path=str(path), format=fmt)
    where: dict[int, tuple[str, int]] = {}  # command number -> its place in the source

    def commands() -> Iterator[tuple[int, Command, dict[str, str]]]:
        seen: dict[str, int] = {}
        source = str(path)
        for item in items:
            report.rows = max(report.rows, item.row)
            if isinstance(item, Skipped):
                report.skipped.append(Problem(item.where, item.reason, item.row))
                continue
            if isinstance(item, Noted):
                report.notes.append(Problem(item.where, item.note, item.row))
                continue
            report.commands += 1
            number = report.commands
            raw = dict(item.command)
            raw.setdefault("id", command_id(fmt, item.source_id, seen))
            try:
                command = parse_command(raw)
            except ValidationError as e:
                report.refused.append(Problem(item.where, describe_validation(e), item.row))
                continue
            where[number] = (item.where, item.row)
            provenance = {"source": source, "format": fmt, "source_id": item.source_id}
            provenance.update(item.provenance)
            yield number, command, provenance

    with bulk_allocation():
        for number, outcome in engine.execute_many(commands(), batch_size=batch_size):
            if isinstance(outcome, Refused):
                place, row = where[number]
                report.refused.append(Problem(place, outcome.message, row))
            elif isinstance(outcome, CommandResult) and outcome.status == "duplicate":
                report.duplicates += 1
            else:
                report.applied += 1
            del where[number]
            if on_row is not None:
                on_row(report.rows)
    return report


def merge_reports(path: Path, fmt: str, reports: Iterable[SourceReport]) -> SourceReport:
    """Import workers' reports as one: counts added, problems in the source's order."""
    merged = SourceReport(path=str(path), format=fmt)
    for report in reports:
        merged.rows = max(merged.rows, report.rows)
        merged.commands += report.commands
        merged.applied += report.applied
        merged.duplicates += report.duplicates
        merged.refused.extend(report.refused)
        merged.skipped.extend(report.skipped)
        merged.notes.extend(report.notes)
    merged.refused.sort(key=lambda p: p.row)  # stable: one row's problems keep their order
    merged.skipped.sort(key=lambda p: p.row)
    merged.notes.sort(key=lambda p: p.row)
    return merged
