"""The shape of a read model, as the projection runner drives it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from sqlalchemy import Connection, Table

from salesengine.projections.base import Envelope
from salesengine.projections.timeline import DealTimeline


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
    def flush(self, conn: Connection) -> None:
        """Write what the batch's events changed."""

    def forget(self) -> None:  # noqa: B027 - optional: caches of projections that keep one
        """Drop any in-memory state: the tables were rebuilt or rolled back."""
