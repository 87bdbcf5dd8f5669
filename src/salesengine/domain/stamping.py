"""The envelope every event of every aggregate carries: its place in the stream, both
clocks, the actor and the command it came from; and the rule that nothing is recorded
as effective in the future. Deals, accounts and quotas build their events through it."""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from salesengine.domain.errors import InvalidTime
from salesengine.domain.eventsourcing_seam import blank_event
from salesengine.domain.values import CLOCK_SKEW, Stamp

E = TypeVar("E")


def stamped_event(
    event_class: type[E], originator_id: UUID, version: int, stamp: Stamp, fields: dict[str, Any]
) -> E:
    """The event at ``version`` of the stream, stamped and holding ``fields``.

    Building the frozen event through its generated ``__init__`` sets each field with
    ``object.__setattr__``; on a bulk import that cost as much as deciding. The event
    gets the same attributes directly, as the codec does when it reads events back."""
    event = blank_event(event_class)
    attributes = event.__dict__
    attributes["originator_id"] = originator_id
    attributes["originator_version"] = version
    attributes["timestamp"] = stamp.recorded_at
    attributes["effective_at"] = stamp.effective_at
    attributes["actor"] = stamp.actor
    attributes["command_id"] = stamp.command_id
    attributes["provenance"] = stamp.provenance
    attributes["command_digest"] = stamp.command_digest
    attributes.update(fields)
    return event


def stamp_fields(stamp: Stamp) -> dict[str, Any]:
    """The envelope's fields a created event takes from its stamp (its recorded time
    goes as the library's ``timestamp``)."""
    return {
        "effective_at": stamp.effective_at,
        "actor": stamp.actor,
        "command_id": stamp.command_id,
        "provenance": stamp.provenance,
        "command_digest": stamp.command_digest,
    }


def check_not_future(stamp: Stamp, advice: str) -> None:
    """Refuse an effective time past the recording clock (beyond ``CLOCK_SKEW``), with
    ``advice`` on what to record instead."""
    if stamp.effective_at > stamp.recorded_at + CLOCK_SKEW:
        raise InvalidTime(
            f"effective time {stamp.effective_at.isoformat()} is in the future "
            f"(now {stamp.recorded_at.isoformat()}; allowance "
            f"{int(CLOCK_SKEW.total_seconds())}s); {advice}"
        )
