"""XES traces as commands: the deal each trace opens, and its events in time order.

The deal opens at its trace's earliest event; events are taken in time order (ties keep
the file's order), so no stage change lands before an earlier one. An event whose time
the command language refuses is refused; if it may be the opening, so is the rest of
its trace.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from salesengine.application.commands import OffsetInstant
from salesengine.domain.values import outside_years
from salesengine.importing.common.items import Rejected, Skipped, SourceCommand, SourceItem
from salesengine.importing.common.validation import read_amount
from salesengine.importing.xes_mapping import Rules, XesMapping
from salesengine.importing.xes_parser import Event, Trace

# The command language's own instant (and amount, ``read_amount``): an event's time and
# a trace's amount are judged by the rules its commands will be, before the deal's
# opening relies on them.
_INSTANT: TypeAdapter[datetime] = TypeAdapter(OffsetInstant)
# An ISO 8601 time with its offset, in the extended form every XES writer uses.
_PLAIN_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:[+-]\d{2}:\d{2}|Z)")
# Longer values are cut when quoted in a refusal.
_QUOTE_MAX = 60


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


class TraceReader:
    """One trace at a time, its deal's commands and the events that make none."""

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
