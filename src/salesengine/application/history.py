"""The auditor's replay: a deal's events in timeline order, and its state at T as known at K."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from salesengine.application.results import DealEvents, DealHistory, HistoryEntry
from salesengine.domain.deal import DealEvent, unmet_at_entry
from salesengine.domain.guard import GuardLookup
from salesengine.domain.state import DealState
from salesengine.domain.values import Status

_ENVELOPE = {
    "originator_id",
    "originator_version",
    "originator_topic",
    "timestamp",
    "effective_at",
    "actor",
    "command_id",
    "provenance",
    "command_digest",
}


def event_data(event: DealEvent) -> dict[str, object]:
    return {k: v for k, v in vars(event).items() if k not in _ENVELOPE}


def _position(state: DealState) -> str | None:
    return None if state.status is Status.NEW else state.position


def build_history(
    deal: DealEvents,
    as_of: datetime,
    known_at: datetime,
    positions: Mapping[int, int],
    guards: GuardLookup | None = None,
) -> DealHistory:
    """``guards``: to flag stage entries made without their criteria, as known at K."""
    known = [e for e in deal.timeline if e.timestamp <= known_at]
    in_view = [e for e in known if e.effective_at <= as_of]
    entries: list[HistoryEntry] = []
    state = DealState()
    for event in in_view:
        before = _position(state)
        unmet = None if guards is None else unmet_at_entry(event, state, guards)
        state = event.evolve(state)
        entries.append(
            HistoryEntry(
                version=event.originator_version,
                position=positions.get(event.originator_version),
                type=type(event).__name__,
                effective_at=event.effective_at,
                recorded_at=event.timestamp,
                actor=event.actor,
                command_id=event.command_id,
                provenance=event.provenance,
                stage_before=before,
                stage_after=state.position,
                data=event_data(event),
                entered_without=unmet or [],
            )
        )
    return DealHistory(
        deal=deal.state.key,
        as_of=as_of,
        known_at=known_at,
        events=entries,
        state=state.as_dict() if entries else {},
        later_events=len(known) - len(in_view),
        # Recorded times never decrease along a deal's versions: its first is its opening's.
        first_recorded=min((e.timestamp for e in deal.timeline), default=None),
    )
