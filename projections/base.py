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
from typing import Any, NamedTuple

from sqlalchemy import MetaData

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


class Record(NamedTuple):
    """One stored event as the read models see it, decoded from its stored JSON
    (``stored_events``) and folded by ``stored_fold``.

    ``stage``, ``reason`` and ``policy_version`` are a stage change's (``stage_fold.
    entered``; an opening's stage); ``data`` is what the event says of the attributes:
    Opened (key, policy, account, owner, team, region, amount, currency, expected close),
    AmountChanged (amount, currency), ExpectedCloseChanged (expected close,),
    OwnerChanged (owner, team, region), NextStepSet (action, due), Reopened (next
    action, next due), VisitLogged (actor, kind, effective); empty for the others.
    """

    kind: str  # the event's class name
    version: int
    effective_us: int
    recorded_us: int
    stage: str | None
    reason: str | None
    policy_version: str | None
    data: tuple[Any, ...]


class Envelope(NamedTuple):
    """A stored event (its ``stored_events`` record) with its place in the notification
    log and its deal."""

    position: int
    record: Record
    deal_id: str  # the originator id as 32 hex digits

    @property
    def kind(self) -> str:
        """The event's class name: a read model's topic."""
        return self.record.kind

    @property
    def recorded_us(self) -> int:
        return self.record.recorded_us

    @property
    def version(self) -> int:
        return self.record.version

    @property
    def effective_us(self) -> int:
        return self.record.effective_us
