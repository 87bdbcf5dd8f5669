"""What this project relies on of eventsourcing beyond its public interface, in one place.

Four shortcuts on the write and read paths, each measured worth its keep on a bulk
import or a read-model rebuild (docs/architecture.md, "Persistence"):

- ``blank_event``: an event made without its generated ``__init__``, which sets each
  field through ``object.__setattr__`` (on a bulk import, as costly as deciding); it
  relies on events being plain frozen dataclasses whose state is their ``__dict__``,
  which the aggregate (a new event) and the codec (a stored one) then fill.
- ``append_new_event``: what ``trigger_event`` does after ``mutate``, for an event the
  aggregate absorbed: the private version, modification time and pending-events list
  (the one ``collect_events`` empties) the library's properties stand for.
- ``create_aggregate``: the protected ``_create`` classmethod that the library's own
  ``__init__``-based creation goes through.
- ``save_aggregates``: ``Application.save`` without its per-object protocol checks,
  through the private ``_record``, ``_take_snapshots`` and ``_notify``.

Two more live where they must, in a subclass: ``salesengine.store.postgres_recorder``
overrides the recorder hook ``_insert_stored_events`` to keep policy versions in the
events' transaction, and ``_fetch_ids_after_insert_events`` to write the audit chain's
rows there, under the library's lock, once the events' positions are known (one per
event, in the events' order). tests/unit/test_eventsourcing_seam.py pins every one of
them, so an upgrade of the library fails there first (see the pin in pyproject.toml).

The per-event ones cost no more than writing them out: ``blank_event`` is the builtin
itself, and ``append_new_event`` sets the attributes its two property setters would.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Recording

E = TypeVar("E")
A = TypeVar("A", bound=Aggregate)

if TYPE_CHECKING:

    def blank_event(cls: type[E]) -> E:
        """An event of ``cls`` with no attributes yet: fill its ``__dict__``."""

else:
    blank_event = object.__new__


def append_new_event(aggregate: Aggregate, event: Any, modified_on: datetime) -> None:
    """Record an event the aggregate has absorbed as its next pending one."""
    aggregate._version = event.originator_version
    aggregate._modified_on = modified_on
    aggregate._pending_events.append(event)


def create_aggregate(cls: type[A], event_class: type[Any], **kwargs: Any) -> A:
    """A new aggregate of ``cls`` from its created event, as the library creates one."""
    return cls._create(event_class, **kwargs)


def save_aggregates(
    app: Application[UUID], aggregates: Sequence[Aggregate], **kwargs: Any
) -> list[Recording[UUID]]:
    """Save the aggregates' pending events in one recording, as ``Application.save`` does
    (``kwargs`` go to the recorder), less its runtime-protocol check of every object."""
    processing: ProcessingEvent[UUID] = ProcessingEvent()
    for aggregate in aggregates:
        processing.events.extend(aggregate.collect_events())
        processing.aggregates[aggregate.id] = aggregate
    processing.saved_kwargs.update(kwargs)
    recordings = app._record(processing)
    app._take_snapshots(processing)
    app._notify(recordings)
    return recordings
