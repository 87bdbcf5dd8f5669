"""XES event logs (IEEE 1849), gzip-compressed or plain: one trace becomes one deal.

A YAML mapping (``--mapping``, e.g. the shipped ``bpi2012``) says which attributes hold
the trace's id and amount and each event's activity, lifecycle, time and resource, and
what each activity becomes: a stage move, an outcome, a fact or a visit. The deal opens
at its trace's earliest event; events are taken in time order (ties keep the file's
order), so no stage change lands before an earlier one. An event whose time the command
language refuses is refused; if it may be the opening, so is the rest of its trace.

The file is parsed with expat, one trace at a time, and nothing is applied before the
whole file has been read: a file that is not XES (malformed XML, no ``<log>``, a trace
without a name) or breaks off mid-way raises ``SourceError`` before anything is
written. A log of up to ``BUFFER_ITEMS`` commands and skipped events is read once and
held in memory; a larger one is checked to its end and then streamed again.

An import may be shared among worker processes (``read_shared``). A log that fits in
memory is split by place: each worker parses the log's header and one run of whole
traces, about an equal part of the file, and the workers compare notes before any
writes. Otherwise, or if the split cannot be shown to read exactly as the whole file
does, each worker reads the whole file, the same checks included, and keeps the traces
whose names ``Share`` gives it.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.parsers import expat

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from salesengine.application.commands import Instant
from salesengine.domain.errors import SalesEngineError
from salesengine.domain.policy import KEY_PATTERN
from salesengine.domain.values import OUTCOMES, outside_years
from salesengine.importing.jsonl import bulk_allocation
from salesengine.importing.readers import GZIP_MAGIC, unpacked_size
from salesengine.importing.sources import (
    MappingError,
    Meet,
    Rejected,
    Share,
    SharedRead,
    Skipped,
    SourceCommand,
    SourceError,
    SourceItem,
    load_mapping,
    mapping_problem,
    read_amount,
)

if TYPE_CHECKING:
    from salesengine.policies.catalog import PolicyCatalog

CHUNK = 1 << 20
# About 1 KB each: a log this large is read twice rather than held in memory.
BUFFER_ITEMS = 1_000_000
# A log up to this size unpacked is split by place among workers, each holding it whole
# while it parses its part.
SPLIT_MAX_BYTES = 256 << 20
# A trace's start tag. Past the log's header, a file is split only if no comment, CDATA
# section or processing instruction ("<!", "<?") could hide one.
_TRACE_TAG = re.compile(rb"<trace[\s>/]")
# XES attribute elements; ``list`` and ``container`` hold nested ones and have no value.
ATTRIBUTE_TAGS = frozenset({"string", "date", "int", "float", "boolean", "id", "list", "container"})
_GLOB = frozenset("*?[")
_KEY = re.compile(KEY_PATTERN)
# The command language's own instant (and amount, ``read_amount``): an event's time and
# a trace's amount are judged by the rules its commands will be, before the deal's
# opening relies on them.
_INSTANT: TypeAdapter[datetime] = TypeAdapter(Instant)
# An ISO 8601 time with its offset, in the extended form every XES writer uses.
_PLAIN_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[+-]\d{2}:\d{2}|Z)")
# Longer values are cut when quoted in a refusal.
_QUOTE_MAX = 60


def _is_key(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 64 and _KEY.fullmatch(value) is not None


def _table(
    value: dict[str, Any], what: str, allowed: tuple[str, ...] | None = None
) -> dict[str, str]:
    for activity, target in value.items():
        if allowed is not None:
            if target not in allowed:
                raise ValueError(
                    f"activity '{activity}': {what} {target!r} is not one of {', '.join(allowed)}"
                )
        elif not _is_key(target):
            raise ValueError(
                f"activity '{activity}': {what} {target!r} is not a key "
                "(lowercase letters, digits and _, starting with a letter)"
            )
    return value


class XesMapping(BaseModel):
    """The shape of an XES mapping file (see docs/importing.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: str | None = Field(default=None, min_length=1)
    deal_prefix: str = ""
    trace_id: str = Field(default="concept:name", min_length=1)
    amount: str | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    activity: str = Field(default="concept:name", min_length=1)
    lifecycle: str = Field(default="lifecycle:transition", min_length=1)
    timestamp: str = Field(default="time:timestamp", min_length=1)
    resource: str | None = "org:resource"
    owner_from_first_event: bool = True
    actor_from_resource: bool = True
    lifecycles: tuple[str, ...] = Field(default=("COMPLETE",), min_length=1)
    stages: dict[str, Any] = Field(default_factory=dict)
    outcomes: dict[str, Any] = Field(default_factory=dict)
    facts: dict[str, Any] = Field(default_factory=dict)
    visits: dict[str, Any] = Field(default_factory=dict)

    @field_validator("lifecycles")
    @classmethod
    def _upper(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(v.strip().upper() for v in value)

    @field_validator("stages")
    @classmethod
    def _stages(cls, value: dict[str, Any]) -> dict[str, str]:
        return _table(value, "stage")

    @field_validator("outcomes")
    @classmethod
    def _outcomes(cls, value: dict[str, Any]) -> dict[str, str]:
        return _table(value, "outcome", OUTCOMES)

    @field_validator("facts")
    @classmethod
    def _facts(cls, value: dict[str, Any]) -> dict[str, str]:
        return _table(value, "fact")

    @field_validator("visits")
    @classmethod
    def _visits(cls, value: dict[str, Any]) -> dict[str, str]:
        return _table(value, "visit kind")


def load_xes_mapping(name_or_path: str) -> tuple[Path, XesMapping]:
    path, content = load_mapping(name_or_path, "xes")
    try:
        mapping = XesMapping.model_validate(content)
    except ValidationError as e:
        raise mapping_problem(path, e) from None
    both = sorted(set(mapping.stages) & set(mapping.outcomes))
    if both:
        raise MappingError(f"{path}: field 'outcomes': {', '.join(both)} also named under 'stages'")
    return path, mapping


@dataclass(frozen=True, slots=True)
class Rule:
    """What one activity becomes."""

    stage: str | None = None
    outcome: str | None = None
    fact: str | None = None  # also what an outcome activity records once the deal is closed
    visit: str | None = None


def _lookup(table: dict[str, str], activity: str) -> str | None:
    found = table.get(activity)
    if found is not None:
        return found
    for pattern, target in table.items():
        if _GLOB.intersection(pattern) and fnmatchcase(activity, pattern):
            return target
    return None


class Rules:
    def __init__(self, mapping: XesMapping) -> None:
        self.mapping = mapping
        self.rank: dict[str, int] = {}
        for stage in mapping.stages.values():
            self.rank.setdefault(stage, len(self.rank))
        self._cache: dict[str, Rule] = {}

    def __call__(self, activity: str) -> Rule:
        rule = self._cache.get(activity)
        if rule is None:
            m = self.mapping
            rule = self._cache[activity] = Rule(
                stage=_lookup(m.stages, activity),
                outcome=_lookup(m.outcomes, activity),
                fact=_lookup(m.facts, activity),
                visit=_lookup(m.visits, activity),
            )
        return rule


# ------------------------------------------------------------------------ parsing


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


class _Parser:
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


def _open(path: Path) -> tuple[io.BufferedReader, io.BufferedIOBase]:
    """The file and the stream of its bytes, unpacked if it starts as gzip does."""
    try:
        raw = path.open("rb")
    except OSError as e:
        raise SourceError(f"{path}: cannot read the file: {e.strerror or e}") from None
    if raw.peek(2)[:2] == GZIP_MAGIC:
        return raw, gzip.GzipFile(fileobj=raw, mode="rb")
    return raw, raw


def _parse(state: _Parser) -> Iterator[Trace]:
    path = state.path
    parser = state.parser
    raw, handle = _open(path)
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


# ------------------------------------------------------------------------ commands


def _quoted(value: str) -> str:
    return repr(value if len(value) <= _QUOTE_MAX else value[: _QUOTE_MAX - 3] + "...")


def _instant(value: str | None, attribute: str) -> datetime | str:
    """The event's instant, or why the command language refuses it, in its terms."""
    if value is None:
        return f"field 'at': missing: the event has no '{attribute}' attribute"
    text = value.strip()
    if _PLAIN_TIME.fullmatch(text):
        # The usual XES time: read directly, as the validator would read it (a third
        # of the reading's time went to the validator); anything else goes through it.
        try:
            at = datetime.fromisoformat(text).astimezone(UTC)
        except (ValueError, OverflowError):  # month 13, year 1 a minute east of UTC
            pass
        else:
            if outside_years(at) is None:
                return at
    try:
        return _INSTANT.validate_python(text)
    except ValidationError as e:
        reasons = "; ".join(error["msg"] for error in e.errors())
        return f"field 'at': {reasons} (given: {_quoted(value)})"


def _amount(value: str | None) -> str | None:
    """The amount as the command language reads it; None if it reads none."""
    amount = None if value is None else read_amount(value.strip())
    return None if amount is None else str(amount)


@dataclass(slots=True)
class _Progress:
    """How far the reader has taken one trace's deal: its stage rank and outcome."""

    rank: int
    closed: str | None = None


class _TraceReader:
    def __init__(self, mapping: XesMapping, policy: str) -> None:
        self.m = mapping
        self.policy = policy
        self.rules = Rules(mapping)
        self.stages = list(self.rules.rank)
        self.lifecycle_note = " or ".join(mapping.lifecycles)
        self.names: dict[str, int] = {}  # trace name -> the row of its first event

    def items(self, trace: Trace) -> Iterator[SourceItem]:
        m = self.m
        name = trace.name
        first_row = trace.first_row
        if not trace.events:
            yield Skipped(f"trace {name}", "the trace has no events", first_row)
            return
        earlier = self.names.setdefault(name, first_row + trace.events[0].index)
        if earlier != first_row + trace.events[0].index:
            # Two traces of one name would be one deal: the second is refused whole.
            for event in trace.events:
                yield Rejected(
                    f"trace {name}, event {event.index}",
                    f"another trace named {name!r} came first (row {earlier}); "
                    "this trace is not imported",
                    first_row + event.index,
                )
            return
        timed: list[tuple[datetime, Event]] = []
        untimed: dict[int, str] = {}  # event index -> why its time is refused
        for event in trace.events:
            at = _instant(event.attributes.get(m.timestamp), m.timestamp)
            if isinstance(at, str):
                untimed[event.index] = at
            else:
                timed.append((at, event))
        if untimed:
            opener = next(
                (e.index for e in trace.events if e.index in untimed and self._may_open(e)), None
            )
            yield from self._untimed(trace, untimed, opener)
            if opener is not None:
                return
        timed.sort(key=lambda pair: pair[0])  # stable: equal times keep the file's order
        progress = _Progress(rank=0 if self.stages else -1)
        deal = f"{m.deal_prefix}{name}"
        for position, (at, event) in enumerate(timed):
            index = event.index
            row = first_row + index
            resource = event.attributes.get(m.resource, "").strip() if m.resource else ""
            opening = position == 0
            made = self._translate(event, resource, progress, opening=opening)
            if not opening and not isinstance(made, dict):
                if made is not None:
                    yield Skipped(f"trace {name}, event {index}", made, row)
                continue
            where = f"trace {name}, event {index}"
            # The instant goes on as a datetime: formatting it only to parse it again
            # cost more than the rest of the translation.
            base: dict[str, Any] = {"deal": deal, "at": at}
            if resource and m.actor_from_resource:
                base["by"] = resource
            source_id = f"{name}/{index}"
            provenance = {"trace": name, "event": str(index)}
            if opening:  # the first event opens the deal, and may make a command too
                fields, bad_amount = self._opening(trace, resource)
                yield SourceCommand(where, source_id, {**base, **fields}, row, provenance)
                if bad_amount is not None:  # refused on its own: the deal opens without
                    assert m.amount is not None
                    yield SourceCommand(
                        f"trace {name}, attribute {m.amount}",
                        source_id,
                        {**base, "cmd": "amount", "amount": bad_amount},
                        row,
                        {**provenance, "attribute": m.amount},
                        alone=True,
                    )
            if isinstance(made, dict):
                yield SourceCommand(where, source_id, {**base, **made}, row, provenance)

    def _may_open(self, event: Event) -> bool:
        """Whether the event could be the deal's opening: the trace's first in the file,
        or one of the stage the deal opens in. Without its time, the opening is unknown."""
        if event.index == 1:
            return True
        activity = event.attributes.get(self.m.activity, "").strip()
        return bool(self.stages) and self.rules(activity).stage == self.stages[0]

    def _untimed(
        self, trace: Trace, untimed: dict[int, str], opener: int | None
    ) -> Iterator[Rejected]:
        """The events whose time is refused; with ``opener`` (an untimed event that may
        open the deal), every event of the trace, so the deal does not open later."""
        for event in trace.events:
            where = f"trace {trace.name}, event {event.index}"
            row = trace.first_row + event.index
            why = untimed.get(event.index)
            if why is not None:
                yield Rejected(f"{where}, attribute {self.m.timestamp}", why, row)
            elif opener is not None:
                yield Rejected(
                    where,
                    f"the deal's opening is unknown: the time of event {opener}, which may "
                    "open it, is refused; this trace is not imported",
                    row,
                )

    def _opening(self, trace: Trace, resource: str) -> tuple[dict[str, Any], str | None]:
        """The opening command's fields, and the trace's amount if it is not one."""
        m = self.m
        opened: dict[str, Any] = {"cmd": "open", "policy": self.policy}
        if resource and m.owner_from_first_event:
            opened["owner"] = resource
        given = trace.attributes.get(m.amount) if m.amount else None
        amount = _amount(given)
        if amount is not None:
            opened["amount"] = amount
            if m.currency:
                opened["currency"] = m.currency
        return opened, (given if given is not None and amount is None else None)

    def _translate(
        self, event: Event, resource: str, progress: _Progress, *, opening: bool
    ) -> dict[str, Any] | str | None:
        """The event's command fields, or why it makes none (None: it opened the deal)."""
        m = self.m
        activity = event.attributes.get(m.activity, "").strip()
        if not activity:
            return f"no activity ('{m.activity}')"
        lifecycle = event.attributes.get(m.lifecycle, "complete").strip().upper()
        if lifecycle not in m.lifecycles:
            return f"{lifecycle} lifecycle: only {self.lifecycle_note} events make commands"
        rule = self.rules(activity)
        if rule.stage is not None:
            rank = self.rules.rank[rule.stage]
            if progress.closed is not None:
                return f"{activity}: the deal is already {progress.closed}; no stage moves after it"
            if rank > progress.rank:
                progress.rank = rank
                return {"cmd": "advance", "to": rule.stage}
            if opening and rank == 0:
                return None  # the deal opens in this stage
            return f"{activity}: stage '{rule.stage}' is not past '{self.stages[progress.rank]}'"
        if rule.outcome is not None and progress.closed is None:
            progress.closed = rule.outcome
            if rule.outcome == "won":
                return {"cmd": "won"}
            return {"cmd": "lost" if rule.outcome == "lost" else "abandon", "reason": activity}
        if rule.fact is not None:
            return {"cmd": "fact", "name": rule.fact, "value": True}
        if rule.outcome is not None:
            return f"{activity}: the deal is already {progress.closed}"
        if rule.visit is not None:
            return {
                "cmd": "visit",
                "kind": rule.visit,
                "effective": False,
                "attendees": [resource] if resource else [],
                "note": activity,
            }
        return f"no mapping for activity '{activity}'"


def _load(
    path: Path, mapping: str | None, policy: str | None, catalog: PolicyCatalog | None
) -> _TraceReader:
    if mapping is None:
        raise MappingError(
            f"{path}: an XES log needs --mapping (a shipped one such as bpi2012, or a YAML file)"
        )
    mapping_path, spec = load_xes_mapping(mapping)
    chosen = policy or spec.policy
    if not chosen:
        raise MappingError(
            f"{mapping_path}: field 'policy': missing; name one here or give --policy"
        )
    if catalog is not None:
        _check_policy(mapping_path, spec, chosen, catalog)
    return _TraceReader(spec, chosen)


def check_mapping(
    path: Path, mapping: str | None, policy: str | None, *, catalog: PolicyCatalog
) -> None:
    """Refuse (MappingError) a mapping the workers would refuse, before any store opens."""
    _load(path, mapping, policy, catalog)


def _check_policy(path: Path, spec: XesMapping, name: str, catalog: PolicyCatalog) -> None:
    """The policy must exist and have every stage the mapping moves deals to."""
    try:
        policy = catalog.get(name)
    except SalesEngineError as e:
        raise MappingError(f"{path}: field 'policy': {e}") from None
    for activity, stage in spec.stages.items():
        if not policy.has_stage(stage):
            raise MappingError(
                f"{path}: field 'stages.{activity}': {stage!r} is not a stage of policy "
                f"{name} ({', '.join(policy.stage_keys)})"
            )


def read(
    path: Path,
    mapping: str | None,
    policy: str | None,
    *,
    share: Share | None = None,
    catalog: PolicyCatalog | None = None,
) -> Iterator[SourceItem]:
    """The log's commands and skipped events (with ``share``, of the traces it owns).

    The whole file is read before the first item is given, so a broken file raises
    ``SourceError`` here, before anything could be written.
    """
    reader = _load(path, mapping, policy, catalog)
    return _read(path, reader, share.owns if share is not None else None)


def _read(
    path: Path, reader: _TraceReader, owns: Callable[[str], bool] | None
) -> Iterator[SourceItem]:
    trace_id = reader.m.trace_id
    state = _Parser(path, trace_id, collect=True, owns=owns)
    held: list[SourceItem] | None = []
    with bulk_allocation():
        for trace in _parse(state):
            if held is not None:
                held.extend(reader.items(trace))
                if len(held) > BUFFER_ITEMS:
                    held = None
                    state.collect = False  # check the rest, then read the file again
    if held is not None:
        return iter(held)
    return _items(path, trace_id, reader, owns)


def _items(
    path: Path, trace_id: str, reader: _TraceReader, owns: Callable[[str], bool] | None
) -> Iterator[SourceItem]:
    for trace in _parse(_Parser(path, trace_id, collect=True, owns=owns)):
        yield from reader.items(trace)


# ------------------------------------------------------------------------ workers


def read_shared(
    path: Path,
    mapping: str | None,
    policy: str | None,
    *,
    share: Share,
    meet: Meet,
    catalog: PolicyCatalog | None = None,
) -> SharedRead:
    """One import worker's share of the log, once every worker has read its own.

    Each worker first reads its part of a split by place (``_read_part``). The workers
    then meet, and ``agree`` judges their parts: if they stand, together they are the
    whole file read in one, and each worker takes its part's traces, numbering rows
    after the parts before it. Otherwise every worker reads the whole file and keeps the
    traces ``share`` owns; a broken file raises ``SourceError`` there, with the place a
    single reading names. Either way no worker returns before all have read.
    """
    reader = _load(path, mapping, policy, catalog)
    part = _read_part(path, reader.m.trace_id, share)
    rows: list[int] | None = meet(None if part is None else part[1])
    if part is not None and rows is not None:
        traces = part[0]
        offset = sum(rows[: share.part])
        own = rows[share.part]
        total = sum(rows)
        items: list[SourceItem] = []
        with bulk_allocation():
            for trace in traces:
                trace.first_row += offset
                items.extend(reader.items(trace))
        traces.clear()

        def position(row: int) -> int:
            # Progress in whole-file rows, as if every worker went through the file.
            return total if own == 0 else round((row - offset) * total / own)

        return SharedRead(iter(items), position, by="place")
    whole = _read(path, reader, share.owns)
    meet(None)
    return SharedRead(whole)


# What a worker tells the others of its part: its events, its trace names, and the
# size and CRC-32 of the file it read (all must have read the same file).
Summary = tuple[int, frozenset[str], int, int]


def agree(summaries: list[Summary | None]) -> list[int] | None:
    """Whether the workers' parts stand, judged once for all (by ``run_workers``): each
    part's events if so, None if not.

    They stand if every part parsed, all were cut from the same file, and each trace name
    is in one part only: a name in two parts would be one deal written by two workers, in
    an order a single reading would not give.
    """
    parts = [s for s in summaries if s is not None]
    if len(parts) < len(summaries) or len({(size, crc) for _, _, size, crc in parts}) > 1:
        return None
    names = [n for _, n, _, _ in parts]
    if sum(map(len, names)) != len(frozenset().union(*names)):
        return None
    return [rows for rows, _, _, _ in parts]


def _read_part(path: Path, trace_id: str, share: Share) -> tuple[list[Trace], Summary] | None:
    """This worker's traces of a split by place, and its summary; None if the file cannot
    be split or the part is not exactly what the whole file holds there (the whole
    reading then says why).

    By induction over the parts, each is parsed as the whole file would be: the header
    must end inside the log and outside any tag, comment, instruction or reference, so a
    part starts where a single parser would stand; and each part but the last must end
    so too, which closing the log there proves.
    """
    data = _unpacked(path)
    if data is None:
        return None
    bounds = _split(data, share.parts)
    if bounds is None:
        return None
    start, end = bounds[share.part], bounds[share.part + 1]
    view = memoryview(data)
    state = _Parser(path, trace_id, collect=True)
    parser = state.parser
    try:
        parser.Parse(view[: bounds[0]], False)
        if state.depth != 1 or not _closes(view[: bounds[0]], state.root):
            return None
        final = end == len(data)
        if start < end:
            parser.Parse(view[start:end], final)
        if not final:
            parser.Parse(f"</{state.root}>".encode(), True)
    except (expat.ExpatError, SourceError):
        return None
    names = frozenset(trace.name for trace in state.done)
    return state.done, (state.rows, names, len(data), zlib.crc32(data))


def _closes(header: memoryview, root: str) -> bool:
    """Whether the log can be closed right after ``header``: nothing is left open but it."""
    probe = expat.ParserCreate()
    try:
        probe.Parse(header, False)
        probe.Parse(f"</{root}>".encode(), True)
    except expat.ExpatError:
        return False
    return True


def _unpacked(path: Path) -> bytes | None:
    """The whole log, unpacked, if it is small enough to split (None if not readable:
    the whole reading then says why)."""
    try:
        if unpacked_size(path) > SPLIT_MAX_BYTES:
            return None
        raw, handle = _open(path)
    except (OSError, SourceError):
        return None
    try:
        data = handle.read(SPLIT_MAX_BYTES + 1)
    except (EOFError, OSError, zlib.error):
        return None
    finally:
        handle.close()
        raw.close()
    return data if len(data) <= SPLIT_MAX_BYTES else None


def _split(data: bytes, parts: int) -> list[int] | None:
    """Where each part begins (and the file's end): the first trace at or after an equal
    share of what follows the header. None if a trace tag might not be one."""
    first = _TRACE_TAG.search(data)
    if first is None:
        return None
    header = first.start()
    if data.find(b"<!", header) != -1 or data.find(b"<?", header) != -1:
        return None
    body = len(data) - header
    bounds = [header]
    for part in range(1, parts):
        found = _TRACE_TAG.search(data, max(bounds[-1], header + body * part // parts))
        bounds.append(len(data) if found is None else found.start())
    bounds.append(len(data))
    return bounds
