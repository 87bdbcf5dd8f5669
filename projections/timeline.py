"""A deal's timeline: its relevant events in timeline order, and the functions of them
that the read models store (stage intervals, attribute segments, funnel steps).

The three bitemporal read models used to recompute a deal's rows from all its events
on every event, and each kept its own copy of the events. Here the events are folded
once per deal and shared: an event that comes after the deal's others in timeline order
(the usual case: stage changes may never be backdated past the latest one) costs
constant work; a backdated one refolds the deal from its events. Either way the rows
equal the from-scratch functions, ``stage_rows`` and ``attribute_rows``. The events are
folded as the records of their stored form (``stored_events``, ``stored_fold``), so
neither a catch-up nor a rebuild builds a domain event.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any, cast

from salesengine.projections.attribute_fold import ATTRIBUTE_TOPICS
from salesengine.projections.base import Envelope, Record
from salesengine.projections.stage_fold import VIA
from salesengine.projections.stored_fold import RecordAttributeFold, RecordStageFold

# The records of one deal (by its id, 32 hex digits) below the given version, any order.
HistoryLoader = Callable[[str, int], list[Record]]

STAGE_TOPICS = frozenset(VIA)
TIMELINE_TOPICS = STAGE_TOPICS | ATTRIBUTE_TOPICS

# (policy, stage or outcome, currency, policy version the stage was entered under)
FunnelKey = tuple[str, str, str | None, str]
Step = tuple[int, FunnelKey, int]  # from effective instant e: the funnel key, amount units


def _order(record: Record) -> tuple[int, int]:
    return (record.effective_us, record.version)


class DealTimeline:
    """One deal, folded. After each ``push`` the ``*_from`` fields say where the stage
    rows, attribute rows and steps first differ from before it, and ``old_steps`` holds
    the steps from ``steps_from`` as they were.

    It folds the events' records (``stored_events``) with ``stored_fold``'s folds, and
    does not keep them: a backdated event, the rare one that does not come last in
    timeline order, has ``Timelines`` fold the deal again from the store.
    """

    __slots__ = (
        "attributes",
        "attributes_from",
        "last",
        "old_steps",
        "slots",
        "stages",
        "stages_from",
        "steps",
        "steps_from",
        "version",
    )

    def __init__(self, events: list[Record], version: int) -> None:
        self.version = version  # every event below it is folded in
        self.slots: dict[str, Any] = {}  # what each read model keeps per deal
        self.stages = RecordStageFold()
        self.attributes = RecordAttributeFold()
        self.steps: list[Step] = []
        self.last: tuple[int, int] | None = None  # the order of the latest event folded
        for event in sorted(events, key=_order):
            self._fold(event)
        self.stages_from = self.attributes_from = self.steps_from = 0
        self.old_steps: list[Step] = []

    def follows(self, event: Record) -> bool:
        """Whether the event comes after every event folded so far, in timeline order."""
        return self.last is None or _order(event) >= self.last

    def push(self, event: Record) -> bool:
        """Fold in the deal's next event (by version), which must follow the others in
        timeline order if it is of the timeline's topics; False if it was already in."""
        version = event.version
        if version < self.version:
            self._unchanged()
            return False
        self.version = version + 1
        if event.kind not in TIMELINE_TOPICS:
            self._unchanged()
            return True
        if not self.follows(event):
            raise ValueError("a backdated event: fold the deal from all its events")
        self._fold(event)
        return True

    def _unchanged(self) -> None:
        self.stages_from = len(self.stages.rows)
        self.attributes_from = self.attributes.size
        self.steps_from = len(self.steps)
        self.old_steps = []

    def _fold(self, event: Record) -> None:
        name = event.kind
        if name in STAGE_TOPICS:
            self.stages_from = self.stages.push(event)
        else:
            self.stages_from = len(self.stages.rows)
        if name in ATTRIBUTE_TOPICS:
            self.attributes_from = self.attributes.push(event)
        else:
            self.attributes_from = self.attributes.size
        self._step(event)
        self.last = _order(event)

    def _step(self, event: Record) -> None:
        """The funnel step function after an event at or after every other.

        Nothing before the event's instant changes (its stage interval and attributes
        hold there as before), so the steps from that instant on are re-evaluated.
        """
        rows = self.stages.rows
        segments = self.attributes.segments
        steps = self.steps
        at = event.effective_us
        keep = len(steps)
        while keep and steps[keep - 1][0] >= at:
            keep -= 1
        self.steps_from = max(0, keep - 1)
        self.old_steps = steps[self.steps_from :]
        del steps[keep:]
        if not rows or not segments:
            return  # pragma: no cover - both start at the opening
        stage = rows[-1]
        values = segments[-1][1]
        key = cast(FunnelKey, (stage[0], stage[1], values[7], self.stages.versions[-1]))
        amount = cast("int | None", values[6]) or 0
        if steps and steps[-1][1] == key and steps[-1][2] == amount:
            return
        steps.append((at, key, amount))

    def new_steps(self) -> list[Step]:
        return self.steps[self.steps_from :]

    def push_would_fold(self, event: Record) -> bool:
        """Whether ``push`` would fold the event in: new, and of the timeline's topics."""
        return event.version >= self.version and event.kind in TIMELINE_TOPICS


class Timelines:
    """The timelines of recently active deals, least recently used evicted first."""

    def __init__(self, history: HistoryLoader, *, capacity: int = 200_000) -> None:
        self._history = history
        self.capacity = capacity
        self._deals: OrderedDict[str, DealTimeline] = OrderedDict()

    def push(self, envelope: Envelope) -> DealTimeline:
        """The deal's timeline with the event folded in."""
        key = envelope.deal_id
        event = envelope.record
        timeline = self._deals.get(key)
        if timeline is not None:
            self._deals.move_to_end(key)
            if timeline.follows(event) or not timeline.push_would_fold(event):
                timeline.push(event)
                return timeline
        # A deal not cached, or a backdated event: fold the deal's events from the store.
        earlier: list[Record] = []
        if envelope.version > 1:
            found = self._history(key, envelope.version)
            earlier = [e for e in found if e.kind in TIMELINE_TOPICS]
        before = timeline if timeline is not None else DealTimeline(earlier, envelope.version)
        if before.follows(event) or not before.push_would_fold(event):
            before.push(event)
            self._deals[key] = before
            return before
        after = DealTimeline([*earlier, event], envelope.version + 1)
        after.slots = before.slots
        after.old_steps = before.steps  # with steps_from 0: the whole function changed
        self._deals[key] = after
        return after

    def trim(self) -> None:
        """Evict down to capacity; only between batches, when no read model holds rows."""
        deals = self._deals
        while len(deals) > self.capacity:
            deals.popitem(last=False)

    def clear(self) -> None:
        self._deals.clear()
