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

from collections.abc import Iterator
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

from salesengine.domain.errors import SalesEngineError
from salesengine.importing.common.csv_files import (
    misfit,
    read_header,
    read_records,
    require_columns,
)
from salesengine.importing.common.errors import MappingError, SourceError
from salesengine.importing.common.items import Rejected, Skipped, SourceCommand, SourceItem
from salesengine.importing.common.local_times import (
    date_problem,
    local_problem,
    parse_instant,
    zone,
)
from salesengine.importing.crm_csv_mapping import CsvMapping, Lookup, Step, load_csv_mapping
from salesengine.policies.catalog import PolicyCatalog


def find_file(name: str, mapping_path: Path, data_path: Path) -> Path:
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
    path = find_file(lookup.file, mapping_path, data_path)
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
    problem = local_problem(fallback, tz)
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
