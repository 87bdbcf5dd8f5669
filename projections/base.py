"""What every read model shares: the event envelope, time units and the projection shape.

Read models store instants as integer microseconds since the Unix epoch (UTC): exact,
the same on SQLite and PostgreSQL, and cheap to compare in range predicates. Amounts
are stored as integer ten-thousandths of the currency unit (the command language allows
four decimals), so sums in SQL stay exact.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

from sqlalchemy import Connection, MetaData, Table

from salesengine.domain.deal import DealEvent

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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


@dataclass(frozen=True, slots=True)
class Envelope:
    """A stored event with its place in the notification log."""

    position: int
    event: DealEvent

    @property
    def deal_id(self) -> str:
        return self.event.originator_id.hex

    @property
    def version(self) -> int:
        return self.event.originator_version

    @property
    def recorded_us(self) -> int:
        return to_us(self.event.timestamp)

    @property
    def effective_us(self) -> int:
        return to_us(self.event.effective_at)


class Projection(ABC):
    """A read model: its tables, and how a batch of events changes them.

    ``process`` runs inside the transaction that also advances the projection's
    tracking position, so a batch is either wholly applied and tracked, or not at all.
    It must depend on nothing but the events and its own tables: a rebuild from zero
    then yields the same rows as the incremental run did.
    """

    name: ClassVar[str]
    # Bumped when the rows a projection writes change meaning; an older view is rebuilt.
    version: ClassVar[int] = 1
    tables: ClassVar[tuple[Table, ...]]
    # Event classes (by name) the projection reads; the others are skipped cheaply.
    topics: ClassVar[frozenset[str]]

    @abstractmethod
    def process(self, conn: Connection, batch: Sequence[Envelope]) -> None: ...

    def forget(self) -> None:  # noqa: B027 - optional: caches of projections that keep one
        """Drop any in-memory cache: the tables were rebuilt or rolled back."""
