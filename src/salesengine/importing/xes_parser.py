"""XES files parsed with expat, one trace at a time: the traces' and events' attributes.

A file that is not XES (malformed XML, no ``<log>``, a trace without a name) or breaks
off mid-way raises ``SourceError``, naming the line.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from salesengine.importing.common.errors import SourceError
from salesengine.importing.common.file_size import GZIP_MAGIC

CHUNK = 1 << 20
# XES attribute elements; ``list`` and ``container`` hold nested ones and have no value.
ATTRIBUTE_TAGS = frozenset({"string", "date", "int", "float", "boolean", "id", "list", "container"})


@dataclass(slots=True)
class Event:
    index: int  # 1-based, in the trace's file order
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Trace:
    name: str
    attributes: dict[str, str]
    events: list[Event]
    first_row: int  # events of the log before this trace's


def _local(name: str) -> str:
    return name.rpartition(":")[2] if ":" in name else name


class Parser:
    """Expat handlers that collect finished traces; ``collect=False`` only checks.

    Depth 1 is the log, 2 its traces, 3 a trace's attributes and events, 4 an event's
    attributes; deeper (nested) attributes are not read. With ``owns``, only the traces
    it accepts are collected; the others are still checked and their events counted.
    """

    def __init__(
        self,
        path: Path,
        trace_id: str,
        collect: bool,
        owns: Callable[[str], bool] | None = None,
    ) -> None:
        self.path = path
        self.trace_id = trace_id
        self.collect = collect
        self.owns = owns
        self.foreign = False  # the current trace is another worker's: skip its events
        self.rows = 0  # events seen so far
        self.first_row = 0
        self.parser = expat.ParserCreate()
        self.parser.buffer_text = True
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end
        self.depth = 0
        self.in_trace = False
        self.in_event = False
        self.done: list[Trace] = []
        self.traces = 0
        self.last_name = ""
        self.attributes: dict[str, str] = {}
        self.events: list[Event] = []
        self.event: Event | None = None
        self.trace_line = 0
        self.root = "log"  # as the file spells it

    def fail(self, message: str, line: int | None = None) -> SourceError:
        at = self.parser.CurrentLineNumber if line is None else line
        return SourceError(f"{self.path}: line {at}: {message}")

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        depth = self.depth = self.depth + 1
        if depth == 4:
            event = self.event
            if event is not None:
                key = attrs.get("key")
                if key is not None:
                    event.attributes[key] = attrs.get("value", "")
        elif depth == 3:
            if self.in_trace:
                local = _local(name)
                if local == "event":
                    self.in_event = True
                    self.rows += 1
                    if self.collect and not self.foreign:
                        self.event = Event(self.rows - self.first_row)
                elif local in ATTRIBUTE_TAGS and "key" in attrs:
                    key = attrs["key"]
                    value = self.attributes[key] = attrs.get("value", "")
                    if key == self.trace_id and self.owns is not None:
                        # Usually a trace's name comes before its events: skip them early.
                        self.foreign = not self.owns(value.strip())
        elif depth == 2:
            if _local(name) == "trace":
                self.in_trace = True
                self.traces += 1
                self.trace_line = self.parser.CurrentLineNumber
                self.first_row = self.rows
                self.foreign = False
                self.attributes = {}
                self.events = []
        elif depth == 1:
            if _local(name) != "log":
                raise self.fail(f"not an XES log: the root element is <{name}>, not <log>")
            self.root = name

    def _end(self, _name: str) -> None:
        depth = self.depth
        self.depth = depth - 1
        if depth == 3 and self.in_event:
            self.in_event = False
            if self.event is not None:
                self.events.append(self.event)
                self.event = None
        elif depth == 2 and self.in_trace:
            self.in_trace = False
            given = self.attributes.get(self.trace_id)
            trace_name = "" if given is None else given.strip()
            if not trace_name:
                after = f" (after trace {self.last_name})" if self.last_name else ""
                why = (
                    f"no '{self.trace_id}' attribute"
                    if given is None
                    else f"its '{self.trace_id}' attribute is blank"
                )
                raise self.fail(f"trace #{self.traces}{after} has no name: {why}", self.trace_line)
            self.last_name = trace_name
            # ``foreign`` was set from this same attribute, so it already says whose it is.
            if self.collect and not self.foreign:
                self.done.append(Trace(trace_name, self.attributes, self.events, self.first_row))
            self.attributes = {}
            self.events = []

    def where(self) -> str:
        if self.in_trace:
            return f"inside trace #{self.traces} (line {self.trace_line})"
        return "before the log is complete"


def open_log(path: Path) -> tuple[io.BufferedReader, io.BufferedIOBase]:
    """The file and the stream of its bytes, unpacked if it starts as gzip does."""
    try:
        raw = path.open("rb")
    except OSError as e:
        raise SourceError(f"{path}: cannot read the file: {e.strerror or e}") from None
    if raw.peek(2)[:2] == GZIP_MAGIC:
        return raw, gzip.GzipFile(fileobj=raw, mode="rb")
    return raw, raw


def parse(state: Parser) -> Iterator[Trace]:
    path = state.path
    parser = state.parser
    raw, handle = open_log(path)
    try:
        while True:
            try:
                chunk = handle.read(CHUNK)
            except (EOFError, OSError, zlib.error) as e:
                raise state.fail(
                    f"the gzip stream is damaged or breaks off {state.where()}: {e}"
                ) from None
            try:
                parser.Parse(chunk, not chunk)
            except expat.ExpatError as e:
                if not chunk and state.depth:
                    raise state.fail(
                        f"the file breaks off {state.where()}: {expat.errors.messages[e.code]}",
                        e.lineno,
                    ) from None
                reason = expat.errors.messages[e.code]
                raise state.fail(f"not well-formed XML: {reason}", e.lineno) from None
            if state.done:
                yield from state.done
                state.done.clear()
            if not chunk:
                break
    finally:
        handle.close()
        raw.close()
