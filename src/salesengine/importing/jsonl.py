"""JSON Lines command files: one command per line, applied in order.

A line without an ``id`` gets one derived from its content (and which repetition of
that content it is), so re-importing a file, or a file that grew, writes nothing twice.
A line may be a command of any family (``command_language``): deals' lines are applied
a batch at a time (``SalesEngine.execute_many``), an account's or quota's one by one
through its own service, each line whole or not at all and in file order.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from salesengine.application.accounts import Accounts
from salesengine.application.command_language import (
    AnyCommand,
    is_account_command,
    is_deal_command,
    is_quota_command,
    parse_any_command,
)
from salesengine.application.engine import SalesEngine
from salesengine.application.quotas import Quotas
from salesengine.application.results import Outcome, Refused
from salesengine.domain.errors import SalesEngineError
from salesengine.importing.common.allocation import bulk_allocation
from salesengine.importing.common.stopping import Stopped, until_stopped
from salesengine.importing.common.validation import describe_validation

_LONG_INTEGER = re.compile(r"\d{19}")
_WITHIN_LINE = re.compile(r"line 1 column (\d+) \(char \d+\)")

Partition = tuple[int, int]  # (this part, number of parts)


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
    # Stopped before the end (an interrupt): ``lines`` counts the lines done, and all
    # of them are committed.
    interrupted: bool = False

    @property
    def done(self) -> int:
        """Lines dealt with: each blank, refused, or applied (or already there)."""
        return self.blank + len(self.refused) + self.applied + self.duplicates


def canonical(raw: dict[str, Any]) -> bytes:
    """The line's content, independent of key order and spacing."""
    return orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)


def implicit_id(content: bytes, seen: dict[str, int]) -> str:
    # Ids are only compared within one deal, so 64 bits of the digest are plenty.
    digest = hashlib.sha256(content).digest()[:8].hex()
    repeat = seen[digest] = seen.get(digest, 0) + 1
    return f"line:{digest}:{repeat}"


def partition_of(raw: dict[str, Any], parts: int) -> int:
    """Which part of a partitioned import owns this command: every line of a deal, one part.

    The key is normalised as validation normalises it (outer whitespace, NFC), so two
    spellings of one deal never land in different parts. Lines without a usable key go
    to part 0.
    """
    key = raw.get("deal")
    if parts == 1 or not isinstance(key, str):
        return 0
    return _part_of_key(key, parts)


def _part_of_key(key: str, parts: int) -> int:
    key = unicodedata.normalize("NFC", key.strip())
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % parts


_DEAL_KEY = b'"deal"'
_DEAL_VALUE = re.compile(rb'\s*:\s*"([^"\\]*)"')  # after the key: a string without escapes
# A key can also be spelt with escapes ("de\u0061l"): such a line is never read fast.
_ESCAPED_DEAL_LETTER = re.compile(rb"\\u006[145cC]")


def owner_of_line(data: bytes, parts: int) -> int | None:
    """The owning part, read without decoding the line, or None if that is not safe.

    A JSON string cannot hold an unescaped quote, so if ``"deal"`` occurs once, as a key,
    and no letter of it is escaped anywhere in the line (which could spell a second
    ``deal`` key), it is the command's own key whenever the line is a valid command; an
    unescaped value is its text byte for byte. Anything less plain takes the full decode.
    Every worker reads every line, so this runs once per line per worker.
    """
    at = data.find(_DEAL_KEY)
    if at < 0 or data.find(_DEAL_KEY, at + 6) >= 0:
        return None
    if b"\\u" in data and _ESCAPED_DEAL_LETTER.search(data):
        return None
    start = at + 8
    if not data.startswith(b':"', at + 6):  # spaced out: let the pattern find the value
        found = _DEAL_VALUE.match(data, at + 6)
        if found is None:
            return None
        start = found.start(1)
    end = data.find(b'"', start)
    raw = data[start:end]
    if end < 0 or b"\\" in raw:  # escaped text is read by the full decode
        return None
    if raw.isascii():
        # A valid JSON string holds no raw control characters, so for ASCII the bytes'
        # strip is the text's, and ASCII is already NFC: the same bytes _part_of_key hashes.
        return zlib.crc32(raw.strip()) % parts
    try:
        key = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return _part_of_key(key, parts)


def _may_have_lost_digits(raw: dict[str, Any]) -> bool:
    # orjson reads integers beyond 64 bits as floats. Only where a float is also a valid
    # value (fact values, amounts) could that go unnoticed; elsewhere it is refused anyway.
    if type(raw.get("value")) is float or type(raw.get("amount")) is float:
        return True
    facts = raw.get("facts")
    if type(facts) is dict and any(type(v) is float for v in facts.values()):
        return True
    info = raw.get("info")  # key information: a budget's amount
    return type(info) is dict and type(info.get("amount")) is float


# The end of a JSON object key: its closing quote and the colon. Inside string values
# the pattern can match too, which only ever makes ``duplicate_key`` look closer.
_KEY_END = re.compile(r'"\s*:')


def _keys(value: dict[str, Any] | list[Any]) -> int:
    """How many object keys a decoded object or array holds, at every depth."""
    count = 0
    if type(value) is dict:
        count = len(value)
        value = list(value.values())
    for item in value:  # a loop, not a generator: this runs once per imported line
        if type(item) is dict or type(item) is list:
            count += _keys(item)
    return count


def duplicate_key(text: str, decoded: dict[str, Any]) -> str | None:
    """A key that appears twice in one object of the line, or None.

    orjson, like most parsers, keeps the last of two equal keys; a command spelling a
    field twice must be refused, not half read. Every key in the text ends with ``":``,
    so unless the text has more such ends than the decoded value has keys, no key can be
    repeated; only then is the line parsed again, pair by pair.
    """
    keys = _keys(decoded)
    if text.count('":') <= keys:
        spaced = " :" in text or "\t:" in text or "\r:" in text  # (a line holds no \n)
        if not spaced or len(_KEY_END.findall(text)) <= keys:
            return None
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen and not repeated:
                repeated.append(key)
            seen.add(key)
        return dict(items)

    json.loads(text, object_pairs_hook=pairs)
    return repeated[0] if repeated else None


def _decode(text: str) -> Any:
    raw = orjson.loads(text)
    if type(raw) is dict and _may_have_lost_digits(raw) and _LONG_INTEGER.search(text):
        return json.loads(text)
    return raw


def read_commands(
    path: Path, report: ImportReport, partition: Partition | None = None
) -> Iterator[tuple[int, AnyCommand, dict[str, str]]]:
    """Yield (line number, command, provenance); bad lines go to the report.

    With a ``partition``, only the lines of that part's deals are yielded; lines that
    belong to no deal are reported by part 0 alone, so the parts' reports add up.
    """
    seen: dict[str, int] = {}
    source = str(path.resolve())  # the provenance names the file wherever it was run
    part, parts = partition or (0, 1)
    owner: int | None = 0
    with path.open("rb") as handle:
        for number, data in enumerate(handle, start=1):
            report.lines = number
            if parts > 1:
                # Every part reads every line; another part's lines are skipped undecoded
                # where possible. A line no part can place is reported by part 0.
                owner = owner_of_line(data, parts)
                if owner is not None and owner != part:
                    continue
            reports_strays = part == (owner or 0)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as e:
                if reports_strays:
                    report.refused.append(LineError(number, f"not UTF-8 text ({e.reason})"))
                continue
            if not text.strip():
                report.blank += reports_strays
                continue
            try:
                raw = _decode(text)
            except ValueError as e:  # both parsers' decode errors, and too-long integers
                if reports_strays:
                    # The parsers count lines within the line itself; only the column helps.
                    reason = _WITHIN_LINE.sub(r"column \1", str(e).split(";")[0])
                    report.refused.append(LineError(number, f"not valid JSON: {reason}"))
                continue
            if not isinstance(raw, dict):
                if reports_strays:
                    report.refused.append(LineError(number, "a command must be a JSON object"))
                continue
            if owner is None and partition_of(raw, parts) != part:
                continue
            if (repeated := duplicate_key(text, raw)) is not None:
                report.refused.append(
                    LineError(number, f"key '{repeated}' appears twice: which value is meant?")
                )
                continue
            if raw.get("id") is None:
                try:
                    content = canonical(raw)
                except orjson.JSONEncodeError as e:
                    report.refused.append(LineError(number, f"cannot read the command: {e}"))
                    continue
                raw["id"] = implicit_id(content, seen)
            try:
                command = parse_any_command(raw)
            except ValidationError as e:
                report.refused.append(LineError(number, describe_validation(e)))
                continue
            yield number, command, {"source": source, "format": "jsonl", "line": str(number)}


def import_file(
    engine: SalesEngine,
    path: Path,
    *,
    on_line: Callable[[int], None] | None = None,
    batch_size: int = 1000,
    partition: Partition | None = None,
    stopped: Stopped | None = None,
) -> ImportReport:
    """Apply the file's commands; ``stopped``: asked between lines, and once it says
    so, the import ends after committing what it holds (``interrupted``)."""
    report = ImportReport(path=str(path))

    def interrupted() -> None:
        report.interrupted = True

    items = until_stopped(
        read_commands(path, report, partition), stopped, lambda item: item[0], interrupted
    )
    with bulk_allocation():
        for number, outcome in _applied(engine, items, batch_size):
            if isinstance(outcome, Refused):
                report.refused.append(LineError(number, outcome.message))
            elif outcome == "duplicate":
                report.duplicates += 1
            else:
                report.applied += 1
            if on_line is not None:
                on_line(number)
    report.refused.sort(key=lambda e: e.line)
    if report.interrupted:
        report.lines = report.done  # not the line read last, which was left undone
    return report


Item = tuple[int, AnyCommand, dict[str, str]]


def _applied(
    engine: SalesEngine, items: Iterable[Item], batch_size: int
) -> Iterator[tuple[int, Refused | str]]:
    """Each line's outcome, in file order: the refusal, or applied or duplicate. A run of
    deal lines goes through the batch path; the lines of the other families between them
    are applied one at a time (they are few, and each is one small stream)."""
    accounts, quotas = Accounts(engine), Quotas(engine)
    for deals, run in groupby(items, key=lambda item: is_deal_command(item[1])):
        if deals:
            commands = ((n, c, p) for n, c, p in run if is_deal_command(c))
            for number, outcome in engine.execute_many(commands, batch_size=batch_size):
                yield number, _status(outcome)
            continue
        for number, command, provenance in run:
            status: str
            try:
                if is_account_command(command):
                    status = accounts.execute(command, provenance=provenance).status
                else:
                    assert is_quota_command(command)  # the language's last family
                    status = quotas.execute(command, provenance=provenance).status
            except SalesEngineError as e:
                yield number, Refused(e)
                continue
            yield number, status


def _status(outcome: Outcome) -> Refused | str:
    return outcome if isinstance(outcome, Refused) else outcome.status
