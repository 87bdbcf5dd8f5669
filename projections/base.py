"""What every read model shares: the event envelope, the tables' MetaData and time units.

Read models store instants as integer microseconds since the Unix epoch (UTC): exact,
the same on SQLite and PostgreSQL, and cheap to compare in range predicates. Amounts
are stored as integer ten-thousandths of the currency unit (the command language allows
four decimals), so sums in SQL stay exact.
"""

from __future__ import annotations

from collections.abc import Hashable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import MetaData

from salesengine.domain.deal import DealEvent

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# One row of a read model without its bookkeeping columns.
Payload = tuple[Hashable, ...]
AMOUNT_SCALE = 10_000

# Every read model's table lives in this one MetaData, so `rebuild` can drop and create
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
