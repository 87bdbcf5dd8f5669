"""CRM exports as CSV, one row per deal, turned into commands by a YAML mapping.

A row holds a deal's current stage and the dates it reached its stages (engaged,
closed, ...). The mapping says, for each value of the stage column, which commands
replay that history and which column dates each of them; which columns give the deal's
key, account, owner, team, region, amount and facts; and which lookup files (accounts,
teams, products) are joined onto a row by a key column. ``mappings/maven.yaml`` is the
mapping of the Maven Analytics CRM sample.

The file's header is checked against the mapping before anything is read, so a missing
column stops the import before a single command is written.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, tzinfo
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from salesengine.domain.errors import SalesEngineError
from salesengine.domain.policy import KEY_PATTERN
from salesengine.importing.sources import (
    MappingError,
    Rejected,
    Skipped,
    SourceCommand,
    SourceError,
    SourceItem,
    load_mapping,
    mapping_problem,
)
from salesengine.policies.catalog import PolicyCatalog

M = TypeVar("M", bound=BaseModel)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


# ------------------------------------------------------------------ shared helpers


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def zone(name: str) -> tzinfo:
    """A time zone by IANA name (``UTC``, ``Europe/Berlin``); ValueError if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as UTC)") from None


def parse_instant(text: str, tz: tzinfo) -> datetime | None:
    """An ISO 8601 date or time; a date is its midnight and a time without offset is in
    ``tz``. None when the text is not a date, or names a local time that did not happen
    or happened twice (``date_problem`` says which)."""
    moment = _read_iso(text.strip(), tz)
    if isinstance(moment, str) or _local_problem(moment, tz):
        return None
    return moment


def date_problem(text: str, tz: tzinfo) -> str:
    """Why ``parse_instant`` could not read the text, in the command language's terms
    and with the text as given: the row is refused with it."""
    value = text.strip()
    moment = _read_iso(value, tz)
    reason = moment if isinstance(moment, str) else _local_problem(moment, tz)
    return f"field 'at': {reason} (given: {value!r})"


def _read_iso(text: str, tz: tzinfo) -> datetime | str:
    """The instant, or why the text is not one."""
    unread = "not an ISO 8601 date or time (YYYY-MM-DD, or YYYY-MM-DDTHH:MM[:SS][+HH:MM])"
    if not (_DAY.fullmatch(text) or (text[:4].isdigit() and len(text) > 10 and text[4] == "-")):
        return unread
    try:
        if _DAY.fullmatch(text):
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=tz)
        moment = datetime.fromisoformat(text)
    except ValueError as e:
        return str(e) if "out of range" in str(e) or "must be in" in str(e) else unread
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def _local_problem(moment: datetime, tz: tzinfo) -> str | None:
    """A local time in the clocks' change: one that did not happen (they went forward)
    or happened twice (they went back). Either would be a guess, so the row says which
    instant it means by giving the UTC offset."""
    if moment.tzinfo is not tz:
        return None  # the text gave its offset
    early, late = moment.replace(fold=0), moment.replace(fold=1)
    if early.utcoffset() == late.utcoffset():
        return None
    local = f"{moment:%Y-%m-%d %H:%M} in {tz}"
    if early.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != moment.replace(tzinfo=None):
        return f"{local} did not happen (the clocks went forward); give the UTC offset"
    return f"{local} happened twice (the clocks went back); give the UTC offset"


def read_header(path: Path, *, encoding: str, delimiter: str) -> list[str]:
    """The column names of a CSV file (a byte order mark is dropped)."""
    try:
        with path.open(encoding=encoding, newline="") as handle:
            header = next(csv.reader(handle, delimiter=delimiter, strict=True), None)
    except OSError as e:
        raise SourceError(f"{path}: cannot read the file: {e.strerror or e}") from None
    except LookupError:
        raise SourceError(f"{path}: the mapping's encoding {encoding!r} is not known") from None
    except UnicodeDecodeError as e:
        raise not_text(path, encoding, e) from None
    except csv.Error as e:
        raise SourceError(f"{path}: line 1: not a CSV header: {e}") from None
    if not header:
        raise SourceError(f"{path}: empty file: no header line")
    return [name.strip() for name in header]


def not_text(path: Path, encoding: str, error: UnicodeDecodeError) -> SourceError:
    """The decoding error, at the line that holds the bad bytes: the text reader decodes
    ahead in blocks, so where it stopped says little."""
    try:
        if not "a\n".encode(encoding).endswith(b"a\n"):  # lines by bytes: ASCII-like only
            raise LookupError(encoding)
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    raw.decode(encoding)
                except UnicodeDecodeError as e:
                    return SourceError(
                        f"{path}: line {number}, byte {e.start + 1}: not {encoding} text "
                        f"({e.reason})"
                    )
    except (OSError, LookupError):
        pass
    return SourceError(f"{path}: not {encoding} text ({error.reason})")


def require_columns(path: Path, header: list[str], needed: dict[str, str]) -> None:
    """Fail, naming the file and each missing column, unless every needed column is there.

    ``needed`` maps a column to what the mapping uses it for."""
    missing = [f"'{column}' ({use})" for column, use in needed.items() if column not in header]
    if missing:
        raise SourceError(
            f"{path}: line 1: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}; the header has {', '.join(header)}"
        )
    # A column the mapping reads must say one thing: with two, either value could be meant.
    for column, use in needed.items():
        places = [str(n) for n, name in enumerate(header, start=1) if name == column]
        if len(places) > 1:
            raise SourceError(
                f"{path}: line 1: column '{column}' ({use}) appears {len(places)} times "
                f"(columns {', '.join(places)}); keep one"
            )


def misfit(line: int, record: list[str], header: list[str]) -> Rejected:
    """A record with more or fewer fields than the header (a cut-off or shifted line):
    refused whole, as nothing says which value belongs to which column."""
    return Rejected(
        f"line {line}",
        f"{len(record)} fields where the header has {len(header)}; the record is not read",
        line,
    )


def read_records(path: Path, *, encoding: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Each data record with the physical line it starts on (1 is the header's)."""
    line = 0
    try:
        with path.open(encoding=encoding, newline="") as handle:
            # strict: a stray quote is an error, not a field running to the end of file
            reader = csv.reader(handle, delimiter=delimiter, strict=True)
            for number, record in enumerate(reader):
                start, line = line + 1, reader.line_num
                if number == 0 or not record:
                    continue
                yield start, record
    except OSError as e:
        raise SourceError(f"{path}: cannot read the file: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise not_text(path, encoding, e) from None
    except csv.Error as e:
        raise SourceError(f"{path}: line {line + 1}: {e}") from None


# ------------------------------------------------------------------ the mapping


class Step(Strict):
    """One command replayed from a row, effective at the date in column ``at``."""

    cmd: Literal["open", "advance", "won", "lost", "abandon"]
    at: str = Field(min_length=1, description="column holding this step's date")
    to: str | None = Field(default=None, pattern=KEY_PATTERN, description="advance: stage")
    amount: str | None = Field(
        default=None, description="column whose value becomes the deal's amount at this step"
    )
    reason: str | None = Field(default=None, min_length=1, description="lost, abandon: why")

    @model_validator(mode="after")
    def _target(self) -> Step:
        if (self.cmd == "advance") != (self.to is not None):
            raise ValueError("'to' is needed by an advance step and by no other")
        if self.reason is not None and self.cmd not in ("lost", "abandon"):
            raise ValueError("'reason' belongs to lost and abandon steps")
        return self


class Lookup(Strict):
    """A CSV file joined onto each row: the row's ``column`` equals the file's ``key``.

    ``file`` is relative to the mapping file, else to the data file's directory."""

    file: str = Field(min_length=1)
    column: str = Field(min_length=1, description="the data file's column")
    key: str | None = Field(default=None, description="the lookup file's column; default: column")
    aliases: dict[str, str] = Field(
        default_factory=dict, description="values of the data column spelt differently"
    )

    @property
    def key_column(self) -> str:
        return self.key or self.column


class Attributes(Strict):
    """Columns (of the row or a lookup) giving the deal's attributes at opening."""

    account: str | None = None
    owner: str | None = None
    team: str | None = None
    region: str | None = None
    amount: str | None = None
    expected_close: str | None = None


class CsvMapping(Strict):
    policy: str | None = Field(default=None, min_length=1)
    id: str = Field(min_length=1, description="column with the row's id, also the deal key")
    deal_prefix: str = ""
    stage: str = Field(min_length=1, description="column with the deal's current stage")
    histories: dict[str, list[Step]] = Field(
        min_length=1, description="stage column value -> the steps replaying its history"
    )
    attributes: Attributes = Attributes()
    facts: dict[str, str] = Field(
        default_factory=dict, description="fact name -> column, recorded at opening"
    )
    by: str | None = Field(default=None, description="column naming the actor")
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    timezone: str = "UTC"
    fallback_at: datetime | date | None = Field(
        default=None,
        description="effective time of a step whose date is missing; without it such "
        "rows are skipped",
    )
    lookups: list[Lookup] = Field(default_factory=list)
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8-sig"

    @cached_property
    def opening_columns(self) -> dict[str, str]:
        """The opening's fields and the columns they come from (worked out once: every
        row's opening names them)."""
        columns: dict[str, str] = self.attributes.model_dump(exclude_none=True)
        columns.update({f"facts.{name}": column for name, column in self.facts.items()})
        return columns

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value

    @field_validator("facts")
    @classmethod
    def _fact_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name in value if not re.fullmatch(KEY_PATTERN, name) or len(name) > 64]
        if bad:
            raise ValueError(f"fact names must match {KEY_PATTERN}: {', '.join(bad)}")
        return value

    @field_validator("histories")
    @classmethod
    def _opens_first(cls, value: dict[str, list[Step]]) -> dict[str, list[Step]]:
        for status, steps in value.items():
            if not steps:  # rows of this stage are left out on purpose
                continue
            if steps[0].cmd != "open":
                raise ValueError(f"the steps of {status!r} must start with an open step")
            if any(step.cmd == "open" for step in steps[1:]):
                raise ValueError(f"the steps of {status!r} open the deal more than once")
        return value


def validate_mapping(path: Path, content: dict[str, Any], model: type[M]) -> M:
    """The mapping file's content as ``model``, or a MappingError naming each bad field.

    The error text drops the first part of each field's location (for commands, the
    command's name), so the content is validated one level down: every field keeps its
    full path, such as ``histories.Won.2.cmd``."""
    try:
        return TypeAdapter(dict[str, model]).validate_python({"mapping": content})["mapping"]  # type: ignore[valid-type]
    except ValidationError as e:
        raise mapping_problem(path, e) from None


def load_csv_mapping(name_or_path: str) -> tuple[Path, CsvMapping]:
    path, content = load_mapping(name_or_path, "csv")
    return path, validate_mapping(path, content, CsvMapping)


# ------------------------------------------------------------------ reading


def _find_file(name: str, mapping_path: Path, data_path: Path) -> Path:
    candidate = Path(name)
    if candidate.is_absolute():
        return candidate
    for base in (mapping_path.parent, data_path.parent):
        if (base / candidate).is_file():
            return base / candidate
    return data_path.parent / candidate


def _load_lookup(
    index: int, lookup: Lookup, mapping_path: Path, data_path: Path, spec: CsvMapping
) -> tuple[str, list[str], dict[str, dict[str, str]]]:
    """The lookup file's name, header and rows by key. A row cut off or shifted, or a
    key given twice, stops the import: the join would take a value nothing vouches for."""
    encoding, delimiter = spec.encoding, spec.delimiter
    path = _find_file(lookup.file, mapping_path, data_path)
    if not path.is_file():
        raise MappingError(
            f"{mapping_path}: field 'lookups.{index}.file': {lookup.file} is neither next "
            f"to the mapping nor next to {data_path.name}"
        )
    header = read_header(path, encoding=encoding, delimiter=delimiter)
    # Every column may be joined onto a row: each must say one thing.
    needed = dict.fromkeys(header, f"joined from {lookup.file}")
    needed[lookup.key_column] = f"key joined on {lookup.column}"
    require_columns(path, header, needed)
    table: dict[str, dict[str, str]] = {}
    lines: dict[str, int] = {}  # key -> the line it was first given on
    for line, record in read_records(path, encoding=encoding, delimiter=delimiter):
        if len(record) != len(header):
            raise SourceError(
                f"{path}: line {line}: {len(record)} fields where the header has {len(header)}"
            )
        row = dict(zip(header, (value.strip() for value in record), strict=True))
        key = row[lookup.key_column]
        if not key:  # joined by no row: an empty value is not looked up
            continue
        if key in lines:
            raise SourceError(
                f"{path}: line {line}: {lookup.key_column} {key!r} given twice "
                f"(first at line {lines[key]})"
            )
        lines[key] = line
        table[key] = row
    return path.name, header, table


def _needed_columns(mapping: CsvMapping, lookup_columns: set[str]) -> dict[str, str]:
    """Columns the data file must have, with what each is for."""
    needed = {mapping.id: "id", mapping.stage: "stage"}
    if mapping.by:
        needed.setdefault(mapping.by, "by")
    for lookup in mapping.lookups:
        needed.setdefault(lookup.column, f"joins {lookup.file}")
    for status, steps in mapping.histories.items():
        for step in steps:
            needed.setdefault(step.at, f"date of {status!r} step {step.cmd}")
            if step.amount:
                needed.setdefault(step.amount, f"amount of {status!r} step {step.cmd}")
    joined = dict(mapping.attributes.model_dump(exclude_none=True).items())
    for use, column in [*joined.items(), *mapping.facts.items()]:
        if column not in lookup_columns:
            needed.setdefault(column, use)
    return needed


def read(
    path: Path,
    mapping: str | None,
    policy: str | None,
    *,
    catalog: PolicyCatalog | None = None,
) -> Iterator[SourceItem]:
    """The commands replaying each row's history; the header and lookups are checked here,
    before the first item is asked for."""
    if mapping is None:
        # Unlike Salesforce's, a CRM's export has no standard columns: no mapping fits all.
        raise MappingError(
            f"{path}: a CRM export needs --mapping (a shipped one such as maven, or a YAML "
            "file naming its columns and stages)"
        )
    mapping_path, spec = load_csv_mapping(mapping)
    policy_name = policy or spec.policy
    if policy_name is None:
        raise MappingError(f"{mapping_path}: field 'policy': missing, and no --policy given")
    header = read_header(path, encoding=spec.encoding, delimiter=spec.delimiter)
    _check_stages(mapping_path, spec, policy_name, catalog)
    tables = []
    lookup_columns: set[str] = set()
    for index, lookup in enumerate(spec.lookups):
        name, columns, table = _load_lookup(index, lookup, mapping_path, path, spec)
        tables.append((lookup, name, table))
        lookup_columns.update(columns)
    require_columns(path, header, _needed_columns(spec, lookup_columns))
    # The whole file is read before the first command goes out, so a bad byte or quote
    # near its end stops the import before anything is written.
    records = list(read_records(path, encoding=spec.encoding, delimiter=spec.delimiter))
    return _items(records, spec, policy_name, header, tables, _fallback(mapping_path, spec))


def _fallback(mapping_path: Path, spec: CsvMapping) -> datetime | None:
    """The mapping's ``fallback_at`` as an instant (a date is its midnight, a time without
    offset is in ``timezone``); one the clocks skipped or repeated there is refused, as
    a row's would be, since every row without its date would take the guess."""
    tz = zone(spec.timezone)
    if isinstance(spec.fallback_at, datetime):
        moment = spec.fallback_at
        fallback = moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)
    elif isinstance(spec.fallback_at, date):
        day = spec.fallback_at
        fallback = datetime(day.year, day.month, day.day, tzinfo=tz)
    else:
        return None
    problem = _local_problem(fallback, tz)
    if problem is not None:
        raise MappingError(f"{mapping_path}: field 'fallback_at': {problem}")
    return fallback


def _check_stages(
    mapping_path: Path, spec: CsvMapping, policy_name: str, catalog: PolicyCatalog | None
) -> None:
    """Advance steps must name stages of the policy. Without the engine's catalog, a
    policy the default one lacks is left for the engine to judge."""
    try:
        policy = (catalog or PolicyCatalog()).get(policy_name)
    except SalesEngineError as e:
        if catalog is None:
            return
        raise MappingError(f"{mapping_path}: field 'policy': {e}") from None
    for status, steps in spec.histories.items():
        for number, step in enumerate(steps):
            if step.to is not None and not policy.has_stage(step.to):
                raise MappingError(
                    f"{mapping_path}: field 'histories.{status}.{number}.to': {step.to!r} is "
                    f"not a stage of policy {policy_name} ({', '.join(policy.stage_keys)})"
                )


def _items(
    records: list[tuple[int, list[str]]],
    spec: CsvMapping,
    policy: str,
    header: list[str],
    tables: list[tuple[Lookup, str, dict[str, dict[str, str]]]],
    fallback: datetime | None,
) -> Iterator[SourceItem]:
    tz = zone(spec.timezone)
    for line, record in records:
        if len(record) != len(header):
            yield misfit(line, record, header)
            continue
        row = dict(zip(header, (value.strip() for value in record), strict=True))
        yield from _row_items(line, row, spec, policy, tables, tz, fallback)


def _row_items(
    line: int,
    row: dict[str, str],
    spec: CsvMapping,
    policy: str,
    tables: list[tuple[Lookup, str, dict[str, dict[str, str]]]],
    tz: tzinfo,
    fallback: datetime | None,
) -> Iterator[SourceItem]:
    # A row that cannot be imported as the mapping says is refused, not skipped: its
    # whole deal would be missing, and the import would still end well.
    where = f"line {line}"
    source_id = row.get(spec.id, "")
    if not source_id:
        yield Rejected(where, f"no {spec.id}: a row needs its id, the deal's key", line)
        return
    status = row.get(spec.stage, "")
    steps = spec.histories.get(status)
    if steps is None:
        known = ", ".join(repr(s) for s in spec.histories)
        yield Rejected(
            where,
            f"{spec.stage} {status!r} is not in the mapping ({known}); map it, or map it to "
            "[] to leave its rows out",
            line,
        )
        return
    if not steps:
        yield Skipped(where, f"{spec.stage} {status!r}: the mapping leaves these rows out", line)
        return
    unknown = _join(row, tables)
    if unknown:
        yield Rejected(where, unknown, line)
        return

    # Each step's effective time; a missing date takes the fallback or refuses the row.
    instants: list[str] = []
    fell_back: list[str] = []
    bad_dates: list[SourceCommand] = []  # each named, so one pass finds them all
    for step in steps:
        text = row.get(step.at, "")
        if not text:
            if fallback is None:
                yield Rejected(
                    where, f"{spec.stage} {status!r} needs a {step.at} (no fallback_at)", line
                )
                return
            fell_back.append(step.at)
            instants.append(fallback.isoformat())
            continue
        moment = parse_instant(text, tz)
        if moment is None:
            if all(bad.provenance["column"] != step.at for bad in bad_dates):
                command = {"cmd": "open", "deal": spec.deal_prefix + source_id, "at": text}
                provenance = {"line": str(line), "column": step.at}
                why = date_problem(text, tz)
                place = f"{where}, column {step.at}"
                bad_dates.append(
                    SourceCommand(place, source_id, command, line, provenance, refusal=why)
                )
            continue
        instants.append(moment.isoformat())
    if bad_dates:
        yield from bad_dates
        return

    provenance = {"line": str(line)}
    if fell_back:
        provenance["fallback"] = f"no {', '.join(sorted(set(fell_back)))}: at fallback_at"
    dated = {step.at for step in steps} - set(fell_back)
    for command, columns in _commands(spec, policy, row, steps, instants, dated):
        yield SourceCommand(where, source_id, command, line, provenance, columns=columns)


def _join(row: dict[str, str], tables: list[tuple[Lookup, str, dict[str, dict[str, str]]]]) -> str:
    """Add the lookups' columns to the row (the row's own columns win); or say which
    key is unknown."""
    for lookup, name, table in tables:
        value = row.get(lookup.column, "")
        if not value:
            continue
        value = row[lookup.column] = lookup.aliases.get(value, value)
        joined = table.get(value)
        if joined is None:
            return f"{lookup.column} {value!r} is not in {name}"
        for column, content in joined.items():
            row.setdefault(column, content)
    return ""


def _commands(
    spec: CsvMapping,
    policy: str,
    row: dict[str, str],
    steps: list[Step],
    instants: list[str],
    dated: set[str],
) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    """Each step's commands, with the column each field came from (``dated``: the date
    columns the row had, the others took ``fallback_at``)."""
    deal = spec.deal_prefix + row[spec.id]
    by = row.get(spec.by, "") if spec.by else ""
    for step, at in zip(steps, instants, strict=True):
        base: dict[str, Any] = {"deal": deal, "at": at}
        when = {"at": step.at} if step.at in dated else {}
        if by:
            base["by"] = by
        amount = row.get(step.amount, "") if step.amount else ""
        if step.cmd == "open":
            command = {"cmd": "open", **base, "policy": policy, **_attributes(spec, row)}
            columns = {**spec.opening_columns, **when}
            if amount:
                command["amount"] = amount
                columns["amount"] = step.amount or ""
                if spec.currency:
                    command["currency"] = spec.currency
            yield command, columns
            continue
        if amount:
            change: dict[str, Any] = {"cmd": "amount", **base, "amount": amount}
            if spec.currency:
                change["currency"] = spec.currency
            yield change, {**when, "amount": step.amount or ""}
        move: dict[str, Any] = {"cmd": step.cmd, **base}
        if step.to is not None:
            move["to"] = step.to
        if step.reason is not None:
            move["reason"] = step.reason
        yield move, when


def _attributes(spec: CsvMapping, row: dict[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, column in spec.attributes.model_dump(exclude_none=True).items():
        value = row.get(column, "")
        if value:
            fields[name] = value
    if spec.currency and "amount" in fields:
        fields["currency"] = spec.currency
    facts = {name: row[column] for name, column in spec.facts.items() if row.get(column)}
    if facts:
        fields["facts"] = facts
    return fields
