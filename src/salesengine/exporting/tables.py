"""Flat tables of the event history for BI tools: events and stage intervals, CSV or Parquet.

Both tables describe the store as of an effective instant T, as known at a recording
instant K, exactly as ``salesengine history`` shows each deal: a deal's events are the
history service's entries (events recorded by K and effective by T, in timeline order),
and its stage intervals are ``stage_rows`` over the stage-changing events among them.
An interval whose end lies after T is therefore still open (``exited_at`` empty).

Columns are fixed by the event classes, not by the data: every data field of every
event type gets a ``data_<field>`` column, typed after the field's annotation.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import types
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Literal, Union, cast, get_args, get_origin, get_type_hints

from sqlalchemy import Connection

from salesengine.access.principal import Scope
from salesengine.access.scope_sql import scoped_deal_keys
from salesengine.application.engine import SalesEngine
from salesengine.application.history import build_history
from salesengine.application.results import DealHistory, HistoryEntry
from salesengine.domain.deal import Deal, DealEvent
from salesengine.projections.base import from_us
from salesengine.projections.stage_fold import VIA, stage_rows
from salesengine.store.indexes import RecorderPositions

Kind = Literal["int", "string", "bool", "decimal", "timestamp", "date", "text", "json"]
TableFormat = Literal["csv", "parquet"]
TABLE_FORMATS: tuple[TableFormat, ...] = ("csv", "parquet")

# Amounts: at most 18 digits, 4 of them after the point (the command language's limit).
AMOUNT_PRECISION = 18
AMOUNT_SCALE = 4
PARQUET_BATCH = 10_000


def temp_path(path: Path) -> Path:
    """A fresh hidden name beside ``path``, for writing it before it replaces ``path``."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Kind


@dataclass(slots=True)
class ExportSummary:
    deals: int = 0
    events: int = 0
    intervals: int = 0
    files: list[Path] = field(default_factory=list)
    # The log positions of the exported events, for the audit manifest (docs/audit.md).
    positions: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DealView:
    """One deal as of T known at K: the history service's view, and the domain events
    behind its entries (in the same order)."""

    history: DealHistory
    events: list[DealEvent]


def deal_views(
    engine: SalesEngine, keys: Iterable[str], as_of: datetime, known_at: datetime
) -> Iterator[DealView]:
    """Each deal with at least one event in view, in the order of ``keys``.

    The history is ``build_history``, the service behind ``SalesEngine.history``, over
    the deal loaded once, so its events serve the stage intervals without a second read.
    """
    positions = RecorderPositions(engine.recorder)
    for key in keys:
        deal = engine.deal_events(key)
        history = build_history(deal, as_of, known_at, positions(deal.id))
        if not history.events:
            continue  # opened after T, or not yet recorded at K
        versions = {entry.version for entry in history.events}
        events = [e for e in deal.timeline if e.originator_version in versions]
        yield DealView(history, events)


def chosen_keys(
    engine: SalesEngine,
    keys: Iterable[str] | None,
    scope: Scope | None,
    read_models: Connection | None,
) -> Iterable[str]:
    """The deals an export writes: ``keys`` (default: every deal, in the order first
    recorded), kept to ``scope`` when one is given that does not reach everything. The
    deals in scope come from the read models (``read_models``, caught up by the caller)
    in one query; with ``keys`` too, the export writes those of ``keys`` in scope."""
    if scope is None or scope.everything:
        return engine.deal_keys() if keys is None else keys
    if read_models is None:
        raise ValueError("read_models: an export kept to a scope needs the read models")
    in_scope = scoped_deal_keys(read_models, scope)
    if keys is None:
        return in_scope
    reached = set(in_scope)
    return (key for key in keys if key in reached)


def known_positions(entries: Iterable[HistoryEntry]) -> Iterator[int]:
    return (entry.position for entry in entries if entry.position is not None)


def activity(entry: HistoryEntry) -> str:
    """What a process miner calls the activity: the stage (or outcome) a stage-changing
    event enters, else the event's type."""
    return entry.stage_after if entry.type in VIA else entry.type


# ------------------------------------------------------------------------ columns


def _kind(hint: Any) -> Kind:
    origin = get_origin(hint)
    if origin in (list, dict):
        return "json"
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        return _kind(args[0]) if len(args) == 1 else "text"
    simple: dict[Any, Kind] = {
        str: "string",
        bool: "bool",
        int: "int",
        Decimal: "decimal",
        datetime: "timestamp",
        date: "date",
    }
    return simple.get(hint, "text")


def _event_classes() -> list[type]:
    """Every concrete event type of a deal: those with their own ``evolve``."""
    base = Deal.Event.evolve
    return [
        c
        for c in vars(Deal).values()
        if isinstance(c, type) and getattr(c, "evolve", base) is not base
    ]


def _data_columns() -> list[Column]:
    envelope = set(get_type_hints(Deal.Event)) | {"originator_topic"}
    kinds: dict[str, Kind] = {}
    for cls in _event_classes():
        for name, hint in get_type_hints(cls).items():
            if name in envelope or get_origin(hint) is ClassVar:
                continue
            kind = _kind(hint)
            kinds[name] = kind if kinds.get(name, kind) == kind else "text"
    return [Column(f"data_{name}", kind) for name, kind in kinds.items()]


DATA_COLUMNS: tuple[Column, ...] = tuple(_data_columns())
EVENT_COLUMNS: tuple[Column, ...] = (
    Column("position", "int"),
    Column("deal", "string"),
    Column("version", "int"),
    Column("type", "string"),
    Column("activity", "string"),
    Column("effective_at", "timestamp"),
    Column("recorded_at", "timestamp"),
    Column("actor", "string"),
    Column("command_id", "string"),
    Column("provenance", "json"),
    Column("stage_before", "string"),
    Column("stage_after", "string"),
    *DATA_COLUMNS,
)
INTERVAL_COLUMNS: tuple[Column, ...] = (
    Column("deal", "string"),
    Column("policy", "string"),
    Column("stage", "string"),
    Column("via", "string"),
    Column("reason", "string"),
    Column("entered_version", "int"),
    Column("entered_at", "timestamp"),
    Column("exited_at", "timestamp"),
)


# --------------------------------------------------------------------------- rows


def event_row(deal: str, entry: HistoryEntry) -> dict[str, Any]:
    row: dict[str, Any] = {
        "position": entry.position,
        "deal": deal,
        "version": entry.version,
        "type": entry.type,
        "activity": activity(entry),
        "effective_at": entry.effective_at,
        "recorded_at": entry.recorded_at,
        "actor": entry.actor,
        "command_id": entry.command_id,
        "provenance": entry.provenance,
        "stage_before": entry.stage_before,
        "stage_after": entry.stage_after,
    }
    for name, value in entry.data.items():
        row[f"data_{name}"] = value
    return row


def interval_rows(deal: str, events: Sequence[DealEvent]) -> list[dict[str, Any]]:
    """The deal's stage intervals over the given events (in timeline order)."""
    moves = [e for e in events if type(e).__name__ in VIA]
    return [
        {
            "deal": deal,
            "policy": policy,
            "stage": stage,
            "via": via,
            "reason": reason,
            "entered_version": version,
            "entered_at": from_us(cast(int, entered)),
            "exited_at": None if exited is None else from_us(cast(int, exited)),
        }
        for policy, stage, via, reason, version, entered, exited in stage_rows(moves)
    ]


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def as_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=_json_default)


def as_text(kind: Kind, value: object) -> str | None:
    """A value as text (None stays None): ISO 8601 times, exact decimals, ``true`` and
    ``false``, JSON for collections; a fact's value as written (``yes``, ``3``, ``true``)."""
    if value is None:
        return None
    if kind == "json":
        return as_json(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _cell(kind: Kind, value: object) -> object:
    """A value for Parquet: native where the column is typed, else its text."""
    if value is None or kind in ("int", "bool", "decimal", "timestamp", "date"):
        return value
    return as_text(kind, value)


# ------------------------------------------------------------------------ writing


class _Sink:
    """Rows into one file of a table, written under a temporary name."""

    def __init__(self, path: Path, columns: Sequence[Column]) -> None:
        self.path = path
        self.columns = columns
        self.temp = temp_path(path)
        self.temp.touch(exist_ok=False)
        self.rows = 0

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def discard(self) -> None:
        with suppress(Exception):
            self.close()
        self.temp.unlink(missing_ok=True)


class _CsvSink(_Sink):
    def __init__(self, path: Path, columns: Sequence[Column]) -> None:
        super().__init__(path, columns)
        self._file = self.temp.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._file)
        self._places = {c.name: (i, c.kind) for i, c in enumerate(columns)}
        self._writer.writerow([c.name for c in columns])

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        places = self._places
        width = len(self.columns)
        for row in rows:
            cells: list[str | None] = [None] * width
            for name, value in row.items():
                place = places.get(name)
                if place is not None and value is not None:
                    cells[place[0]] = as_text(place[1], value)
            self._writer.writerow(cells)
            self.rows += 1

    def close(self) -> None:
        self._file.close()


def arrow_schema(columns: Sequence[Column]) -> Any:
    import pyarrow as pa

    types_: dict[Kind, Any] = {
        "int": pa.int64(),
        "string": pa.string(),
        "bool": pa.bool_(),
        "decimal": pa.decimal128(AMOUNT_PRECISION, AMOUNT_SCALE),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "date": pa.date32(),
        "text": pa.string(),
        "json": pa.string(),
    }
    return pa.schema([pa.field(c.name, types_[c.kind]) for c in columns])


class _ParquetSink(_Sink):
    def __init__(self, path: Path, columns: Sequence[Column]) -> None:
        import pyarrow.parquet as pq

        super().__init__(path, columns)
        self._schema = arrow_schema(columns)
        self._writer = pq.ParquetWriter(str(self.temp), self._schema, compression="zstd")
        self._pending: list[dict[str, Any]] = []

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self._pending.append(row)
            self.rows += 1
        if len(self._pending) >= PARQUET_BATCH:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if not self._pending:
            return
        data = {
            c.name: [_cell(c.kind, row.get(c.name)) for row in self._pending] for c in self.columns
        }
        self._writer.write_table(pa.Table.from_pydict(data, schema=self._schema))
        self._pending.clear()

    def close(self) -> None:
        self._flush()
        self._writer.close()


def export_tables(
    engine: SalesEngine,
    directory: Path,
    fmt: TableFormat,
    as_of: datetime,
    known_at: datetime,
    *,
    keys: Iterable[str] | None = None,
    scope: Scope | None = None,
    read_models: Connection | None = None,
) -> ExportSummary:
    """Write ``events.<fmt>`` and ``stage_intervals.<fmt>`` into the directory (created if
    need be) for the given deals (default: every deal), of ``scope`` only if given (see
    ``chosen_keys``). Both files appear at the end, under temporary names until then: a
    failed export leaves neither."""
    chosen = chosen_keys(engine, keys, scope, read_models)
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    sink = _CsvSink if fmt == "csv" else _ParquetSink
    summary = ExportSummary()
    sinks: list[_Sink] = []
    try:
        events = sink(directory / f"events.{fmt}", EVENT_COLUMNS)
        sinks.append(events)
        intervals = sink(directory / f"stage_intervals.{fmt}", INTERVAL_COLUMNS)
        sinks.append(intervals)
        for view in deal_views(engine, chosen, as_of, known_at):
            deal = view.history.deal
            events.write(event_row(deal, entry) for entry in view.history.events)
            summary.positions.extend(known_positions(view.history.events))
            intervals.write(interval_rows(deal, view.events))
            summary.deals += 1
        for s in sinks:
            s.close()
        for s in sinks:
            os.replace(s.temp, s.path)
            summary.files.append(s.path)
    except BaseException:
        for s in sinks:
            s.discard()
        if created:
            with suppress(OSError):
                directory.rmdir()
        raise
    summary.events = events.rows
    summary.intervals = intervals.rows
    return summary
