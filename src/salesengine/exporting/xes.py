"""The event history as an IEEE 1849 (XES) event log, for process-mining tools.

One trace per deal, named by the deal's key and carrying the deal's attributes as of T
known at K; one event per domain event in view (recorded by K, effective by T), in
timeline order, exactly as ``salesengine history`` lists them. An event's activity
(``concept:name``) is the stage or outcome a stage-changing event enters (``contacted``,
``won``), else its type (``VisitLogged``), so a discovered process map shows the funnel
with the work done in each stage; ``type`` keeps the event's type in every case. Its
``time:timestamp`` is the effective time, ``org:resource`` the actor; the recording time,
the log position and the version are extra attributes, the event's data fields are
``data_<field>`` attributes as in the CSV and Parquet tables. XES has no decimal type:
amounts are ``float`` attributes here (exact in the tables).

The log is written as it is read, deal by deal, under a temporary name that replaces the
target only once complete; a name ending in ``.gz`` is written gzip-compressed.
"""

from __future__ import annotations

import gzip
import io
import os
import re
from collections.abc import Iterable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast
from xml.sax.saxutils import quoteattr

from sqlalchemy import Connection

from salesengine.access.principal import Scope
from salesengine.application.engine import SalesEngine
from salesengine.application.results import DealHistory, HistoryEntry
from salesengine.exporting.tables import (
    DATA_COLUMNS,
    ExportSummary,
    Kind,
    activity,
    as_text,
    chosen_keys,
    deal_views,
    known_positions,
    temp_path,
)

# Characters XML 1.0 does not allow, even escaped.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_REPLACEMENT = "\ufffd"
_DATA_KINDS: dict[str, Kind] = {c.name.removeprefix("data_"): c.kind for c in DATA_COLUMNS}
# The deal's attributes on its trace, from its state as of T known at K.
_TRACE_ATTRIBUTES: tuple[tuple[str, Kind], ...] = (
    ("policy", "string"),
    ("policy_version", "string"),
    ("status", "string"),
    ("stage", "string"),
    ("account", "string"),
    ("owner", "string"),
    ("team", "string"),
    ("region", "string"),
    ("amount", "decimal"),
    ("currency", "string"),
    ("opened_at", "timestamp"),
    ("expected_close", "date"),
    ("outcome_reason", "string"),
    ("competitor", "string"),
)

_HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1849-2016" xes.features="" xmlns="http://www.xes-standard.org/">
  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
  <extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>
  <extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>
  <extension name="Lifecycle" prefix="lifecycle" uri="http://www.xes-standard.org/lifecycle.xesext"/>
  <global scope="trace">
    <string key="concept:name" value="UNKNOWN"/>
  </global>
  <global scope="event">
    <string key="concept:name" value="UNKNOWN"/>
    <string key="lifecycle:transition" value="complete"/>
    <date key="time:timestamp" value="1970-01-01T00:00:00.000+00:00"/>
    <string key="org:resource" value="UNKNOWN"/>
  </global>
  <classifier name="Activity" keys="concept:name"/>
  <classifier name="Event type" keys="type"/>
"""


def xes_time(moment: datetime) -> str:
    """An xs:dateTime in UTC with its offset; milliseconds, or microseconds if need be."""
    utc = moment.astimezone(UTC)
    return utc.isoformat(timespec="milliseconds" if utc.microsecond % 1000 == 0 else "auto")


def _attribute(key: str, kind: Kind, value: Any) -> str:
    """One typed XES attribute ('' for a missing value)."""
    if value is None:
        return ""
    if kind == "int":
        tag, text = "int", str(int(value))
    elif kind == "bool":
        tag, text = "boolean", "true" if value else "false"
    elif kind == "decimal":
        tag, text = "float", str(value)
    elif kind == "timestamp":
        tag, text = "date", xes_time(value)
    else:
        tag, text = "string", as_text(kind, value) or ""
    text = quoteattr(_INVALID_XML.sub(_REPLACEMENT, text))
    return f"<{tag} key={quoteattr(key)} value={text}/>"


def _trace(history: DealHistory) -> str:
    state = history.state
    parts = ["  <trace>\n    ", _attribute("concept:name", "string", history.deal)]
    for name, kind in _TRACE_ATTRIBUTES:
        attribute = _attribute(name, kind, state.get(name))
        if attribute:
            parts.append("\n    " + attribute)
    parts.append("\n")
    parts.extend(_event(entry) for entry in history.events)
    parts.append("  </trace>\n")
    return "".join(parts)


def _event(entry: HistoryEntry) -> str:
    attributes = [
        _attribute("concept:name", "string", activity(entry)),
        _attribute("lifecycle:transition", "string", "complete"),
        _attribute("time:timestamp", "timestamp", entry.effective_at),
        _attribute("org:resource", "string", entry.actor),
        _attribute("type", "string", entry.type),
        _attribute("position", "int", entry.position),
        _attribute("version", "int", entry.version),
        _attribute("recorded_at", "timestamp", entry.recorded_at),
        _attribute("command_id", "string", entry.command_id),
        _attribute("provenance", "json", entry.provenance),
        _attribute("stage_before", "string", entry.stage_before),
        _attribute("stage_after", "string", entry.stage_after),
    ]
    for name, value in entry.data.items():
        attributes.append(_attribute(f"data_{name}", _DATA_KINDS.get(name, "json"), value))
    body = "\n      ".join(a for a in attributes if a)
    return f"    <event>\n      {body}\n    </event>\n"


class _Borrowed(io.BufferedIOBase):
    """A stream the writer may close, flushing it, without closing the one under it
    (standard output, say): the caller owns that, even when a write fails."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return self._raw.write(data)

    def flush(self) -> None:
        if not self.closed:
            self._raw.flush()


def _open_text(raw: IO[bytes], packed: bool, name: str, stack: ExitStack) -> IO[str]:
    out: IO[bytes] = cast(IO[bytes], stack.enter_context(_Borrowed(raw)))
    if packed:
        out = cast(IO[bytes], stack.enter_context(gzip.GzipFile(name, "wb", fileobj=out)))
    return stack.enter_context(io.TextIOWrapper(out, encoding="utf-8", newline="\n"))


def write_xes(
    engine: SalesEngine,
    raw: IO[bytes],
    as_of: datetime,
    known_at: datetime,
    *,
    keys: Iterable[str] | None = None,
    packed: bool = False,
    name: str = "salesengine.xes",
    scope: Scope | None = None,
    read_models: Connection | None = None,
) -> ExportSummary:
    """Write the XES log of the given deals (default: every deal) onto a binary stream,
    gzip-compressed if ``packed`` (``name`` is then the file name inside the gzip); of
    ``scope`` only if given (``tables.chosen_keys``)."""
    chosen = chosen_keys(engine, keys, scope, read_models)
    summary = ExportSummary()
    with ExitStack() as stack:
        out = _open_text(raw, packed, name, stack)
        out.write(_HEADER)
        out.write("  " + _attribute("concept:name", "string", "salesengine") + "\n")
        out.write("  " + _attribute("as_of", "timestamp", as_of) + "\n")
        out.write("  " + _attribute("known_at", "timestamp", known_at) + "\n")
        for view in deal_views(engine, chosen, as_of, known_at):
            out.write(_trace(view.history))
            summary.deals += 1
            summary.events += len(view.history.events)
            summary.positions.extend(known_positions(view.history.events))
        out.write("</log>\n")
    return summary


def export_xes(
    engine: SalesEngine,
    path: Path,
    as_of: datetime,
    known_at: datetime,
    *,
    keys: Iterable[str] | None = None,
    scope: Scope | None = None,
    read_models: Connection | None = None,
) -> ExportSummary:
    """Write the XES log of the given deals (default: every deal; of ``scope`` only if
    given) to ``path``, whole or not at all (gzip-compressed if the name ends in .gz, in
    any case)."""
    temp = temp_path(path)
    try:
        with temp.open("xb") as raw:
            packed = path.suffix.lower() == ".gz"  # log.xes.gz, and LOG.XES.GZ too
            summary = write_xes(
                engine,
                raw,
                as_of,
                known_at,
                keys=keys,
                packed=packed,
                scope=scope,
                read_models=read_models,
                name=path.stem if packed else path.name,
            )
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    summary.files.append(path)
    return summary
