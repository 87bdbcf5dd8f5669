"""The shape of a read model, as the projection runner drives it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from sqlalchemy import Connection, Table

from salesengine.projections.base import Envelope
from salesengine.projections.timeline import TIMELINE_TOPICS, DealTimeline, Timelines


class Projection(ABC):
    """A read model: its tables, and how each event changes them.

    The runner hands every event of a batch to ``apply`` and then calls ``flush``, all
    inside the transaction that also advances the projection's tracking position, so a
    batch is either wholly applied and tracked, or not at all. A projection must depend
    on nothing but the events and its own tables: a rebuild from zero then yields the
    same rows as the incremental run did.
    """

    name: ClassVar[str]
    # Bumped when the rows a projection writes change meaning; an older view is rebuilt.
    version: ClassVar[int] = 1
    tables: ClassVar[tuple[Table, ...]]
    # Event classes (by name) the projection reads; the others are skipped cheaply.
    topics: ClassVar[frozenset[str]]

    @abstractmethod
    def apply(self, conn: Connection, envelope: Envelope, timeline: DealTimeline | None) -> None:
        """One event of the projection's topics, with its deal's timeline just after it
        (None for events outside the timelines' topics)."""

    @abstractmethod
    def take(self) -> Any:
        """What the batch's events changed, taken out of the projection (picklable: a
        parallel rebuild's fold processes hand it to the one process that writes)."""

    @staticmethod
    @abstractmethod
    def merge(parts: list[Any]) -> Any:
        """One batch's changes from the ``take`` of several projections of this kind,
        each having folded a disjoint set of deals (``parallel_rebuild``)."""

    @abstractmethod
    def write(self, conn: Connection, taken: Any) -> None:
        """Write changes taken from this projection or merged from several."""

    def flush(self, conn: Connection) -> None:
        """Write what the batch's events changed."""
        self.write(conn, self.take())

    def forget(self) -> None:  # noqa: B027 - optional: caches of projections that keep one
        """Drop any in-memory state: the tables were rebuilt or rolled back."""


# A read model, the position it has seen up to, and its topics.
Active = tuple[Projection, int, frozenset[str]]


def apply_batch(
    conn: Connection, batch: list[Envelope], active: list[Active], timelines: Timelines
) -> None:
    """Each event to every read model that has not seen it, with its deal's timeline.

    The timeline takes every event of its topics, seen or not, so it stays whole.
    """
    push = timelines.push
    for envelope in batch:
        kind = envelope.kind
        timeline = push(envelope) if kind in TIMELINE_TOPICS else None
        for projection, seen, topics in active:
            if kind in topics and envelope.position > seen:
                projection.apply(conn, envelope, timeline)
