"""What every read model shares: the event envelope, time units and the projection shape.

Read models store instants as integer microseconds since the Unix epoch (UTC): exact,
the same on SQLite and PostgreSQL, and cheap to compare in range predicates. Amounts
are stored as integer ten-thousandths of the currency unit (the command language allows
four decimals), so sums in SQL stay exact.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar, NamedTuple

from sqlalchemy import Connection, MetaData, Table

from salesengine.domain.deal import DealEvent

if TYPE_CHECKING:
    from salesengine.projections.timeline import DealTimeline

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# One row of a read model without its bookkeeping columns.
Payload = tuple[Hashable, ...]
AMOUNT_SCALE = 10_000

# Every read model's table lives in this one catalogue, so `rebuild` can drop and create
# them by name and a test can compare two databases table by table.
metadata = MetaData()


def to_us(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def to_units(amount: Decimal) -> int:
    return int(amount * AMOUNT_SCALE)


def from_units(value: int) -> Decimal:
    return Decimal(value) / AMOUNT_SCALE


class Envelope(NamedTuple):
    """A stored event with its place in the notification log, and what every read
    model asks of it, worked out once."""

    position: int
    event: DealEvent
    deal_id: str  # the originator id as 32 hex digits
    kind: str  # the event's class name: a read model's topic
    recorded_us: int

    @classmethod
    def of(cls, position: int, event: DealEvent) -> Envelope:
        return cls(
            position, event, event.originator_id.hex, type(event).__name__, to_us(event.timestamp)
        )

    @property
    def version(self) -> int:
        return self.event.originator_version

    @property
    def effective_us(self) -> int:
        return to_us(self.event.effective_at)


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
