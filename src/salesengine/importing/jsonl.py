"""JSON Lines command files: one command per line, applied in order.

A line without an ``id`` gets one derived from its content (and which repetition of
that content it is), so re-importing a file, or a file that grew, writes nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from salesengine.application.commands import COMMAND_NAMES, Command, parse_command
from salesengine.application.engine import Refused, SalesEngine
from salesengine.application.results import CommandResult

_LONG_INTEGER = re.compile(r"\d{19}")
_WITHIN_LINE = re.compile(r"line 1 column (\d+) \(char \d+\)")


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    message: str


@dataclass(slots=True)
class ImportReport:
    path: str
    lines: int = 0
    applied: int = 0
    duplicates: int = 0
    blank: int = 0
    refused: list[LineError] = field(default_factory=list)


def describe_validation(error: ValidationError) -> str:
    """Name each bad field and why, in the writer's own terms."""
    problems = []
    for err in error.errors():
        # Union members show up in the location as validator names; they are not fields.
        loc = [str(p) for p in err["loc"] if "[" not in str(p)]
        # The discriminated union puts the command name first; it is not a field.
        if len(loc) > 1 and err["type"] not in ("union_tag_invalid", "union_tag_not_found"):
            loc = loc[1:]
        where = ".".join(loc) if loc else "line"
        message = err["msg"]
        if err["type"] == "union_tag_invalid":
            where = "cmd"
            tag = err.get("ctx", {}).get("tag")
            message = f"unknown command {tag!r} (one of {', '.join(COMMAND_NAMES)})"
        elif err["type"] == "union_tag_not_found":
            where = "cmd"
            message = f"missing (one of {', '.join(COMMAND_NAMES)})"
        problems.append(f"field '{where}': {message}")
    return "; ".join(problems)


def canonical(raw: dict[str, Any]) -> bytes:
    """The line's content, independent of key order and spacing."""
    return orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)


def implicit_id(content: bytes, seen: Counter[str]) -> str:
    # Ids are only compared within one deal, so 64 bits of the digest are plenty.
    digest = hashlib.sha256(content).hexdigest()[:16]
    seen[digest] += 1
    return f"line:{digest}:{seen[digest]}"


def read_commands(
    path: Path, report: ImportReport
) -> Iterator[tuple[int, Command, dict[str, str]]]:
    """Yield (line number, command, provenance); bad lines go to the report."""
    seen: Counter[str] = Counter()
    source = str(path)
    with path.open("rb") as handle:
        for number, data in enumerate(handle, start=1):
            report.lines = number
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as e:
                report.refused.append(LineError(number, f"not UTF-8 text ({e.reason})"))
                continue
            if not text.strip():
                report.blank += 1
                continue
            try:
                # orjson reads integers beyond 64 bits as floats; such lines take the exact path.
                raw = json.loads(text) if _LONG_INTEGER.search(text) else orjson.loads(text)
            except ValueError as e:  # both parsers' decode errors, and too-long integers
                # The parsers count lines within the line itself; only the column helps here.
                reason = _WITHIN_LINE.sub(r"column \1", str(e).split(";")[0])
                report.refused.append(LineError(number, f"not valid JSON: {reason}"))
                continue
            if not isinstance(raw, dict):
                report.refused.append(LineError(number, "a command must be a JSON object"))
                continue
            try:
                content = canonical(raw)
            except orjson.JSONEncodeError as e:
                report.refused.append(LineError(number, f"cannot read the command: {e}"))
                continue
            if raw.get("id") is None:
                raw = {**raw, "id": implicit_id(content, seen)}
            try:
                command = parse_command(raw)
            except ValidationError as e:
                report.refused.append(LineError(number, describe_validation(e)))
                continue
            yield number, command, {"source": source, "line": str(number)}


def import_file(
    engine: SalesEngine,
    path: Path,
    *,
    on_line: Callable[[int], None] | None = None,
    batch_size: int = 1000,
) -> ImportReport:
    report = ImportReport(path=str(path))
    items = read_commands(path, report)
    for number, outcome in engine.execute_many(items, batch_size=batch_size):
        if isinstance(outcome, Refused):
            report.refused.append(LineError(number, outcome.message))
        elif isinstance(outcome, CommandResult) and outcome.status == "duplicate":
            report.duplicates += 1
        else:
            report.applied += 1
        if on_line is not None:
            on_line(number)
    report.refused.sort(key=lambda e: e.line)
    return report
