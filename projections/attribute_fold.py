"""A deal's attributes over effective time as a function of its events: the definition
of the ``deal_attributes`` read model.

The values are the domain's own fold (``DealState``) after each event, in segments in
which nothing reportable changed. The runner keeps the read model with
``stored_fold.RecordAttributeFold``, the same fold over the stored events' records, which
tests/unit/test_stored_fold.py proves equal to this one.
"""

from __future__ import annotations

from collections.abc import Sequence

from salesengine.domain.deal import DealEvent
from salesengine.domain.state import DealState
from salesengine.projections.base import Payload, to_units, to_us

ATTRIBUTE_TOPICS = frozenset(
    {
        "Opened",
        "AmountChanged",
        "ExpectedCloseChanged",
        "OwnerChanged",
        "NextStepSet",
        "NextStepCompleted",
        "Won",
        "Lost",
        "Abandoned",
        "Reopened",
    }
)


def attributes(state: DealState) -> Payload:
    step = state.next_step
    return (
        state.key,
        state.policy,
        state.account,
        state.owner,
        state.team,
        state.region,
        None if state.amount is None else to_units(state.amount),
        state.currency,
        None if state.expected_close is None else state.expected_close.isoformat(),
        None if step is None else step.action,
        None if step is None else to_us(step.due),
    )


def attribute_rows(events: Sequence[DealEvent]) -> list[Payload]:
    """(valid_from, valid_to, *attributes) per segment in which nothing reportable changed."""
    fold = AttributeFold()
    for event in events:
        fold.push(event)
    return fold.rows_from(0)


class Segments:
    """A deal's attribute segments (valid_from, attributes) in which nothing reportable
    changed, as events are pushed in timeline order: a push changes at most the last
    segment and the one before it. Shared by the domain's fold and the records' fold."""

    __slots__ = ("segments",)

    def __init__(self) -> None:
        self.segments: list[tuple[int, Payload]] = []

    def add(self, start: int, values: Payload) -> int:
        """The attributes from ``start`` on; the index of the first row that changed."""
        segments = self.segments
        if segments and segments[-1][0] == start:
            segments.pop()  # superseded at the same instant: the later event holds
        # The row before the last segment ends where the last one starts.
        changed = max(0, len(segments) - 1)
        if segments and segments[-1][1] == values:
            return changed  # nothing reportable changed
        segments.append((start, values))
        return changed

    @property
    def size(self) -> int:
        return len(self.segments)

    def rows_from(self, index: int) -> list[Payload]:
        segments = self.segments
        last = len(segments) - 1
        return [
            (start, segments[i + 1][0] if i < last else None, *values)
            for i, (start, values) in enumerate(segments[index:], index)
        ]


class AttributeFold(Segments):
    """``attribute_rows`` one event at a time, for events pushed in timeline order: the
    domain's fold (``DealState``) after the last event, and the segments so far."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        super().__init__()
        self.state = DealState()

    def push(self, event: DealEvent) -> int:
        """Fold in the next event; the index of the first row that changed."""
        self.state = event.evolve(self.state)
        return self.add(to_us(event.effective_at), attributes(self.state))
