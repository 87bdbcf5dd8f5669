"""Small immutable values shared by the aggregate, the guard and the reports."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple
from uuid import NAMESPACE_URL, UUID, uuid5

# Writers may backdate freely but may only post-date within this clock-skew allowance.
CLOCK_SKEW = timedelta(minutes=5)
# The years instants and dates may fall in: any sales history fits, and reports that step
# by weeks or periods around them stay far from the calendar's own ends (years 1 and 9999).
FIRST_YEAR, LAST_YEAR = 1900, 8999
# An ISO 8601 date or instant starts with its date; lax parsers would read "20260331" (or
# any string of digits) as seconds since 1970.
ISO_START = re.compile(r"\s*\d{4}-\d{2}-\d{2}")

# Deal ids derive from the writer's key, so the same key always names the same stream.
DEAL_NAMESPACE = uuid5(NAMESPACE_URL, "salesengine:deal")

FactValue = str | int | float | bool


def deal_id(key: str) -> UUID:
    return uuid5(DEAL_NAMESPACE, key)


class Status(StrEnum):
    NEW = "new"  # not opened yet: only used while a deal is being opened
    OPEN = "open"
    WON = "won"
    LOST = "lost"
    ABANDONED = "abandoned"

    @property
    def is_terminal(self) -> bool:
        return self in (Status.WON, Status.LOST, Status.ABANDONED)


OUTCOMES: tuple[str, ...] = (Status.WON.value, Status.LOST.value, Status.ABANDONED.value)


@dataclass(frozen=True, slots=True)
class NextStep:
    action: str
    due: datetime
    owner: str
    set_at: datetime

    def is_overdue(self, at: datetime) -> bool:
        return self.due < at


class Stamp(NamedTuple):
    """Who did it, when it happened, when we recorded it, and under which command.

    A named tuple rather than a frozen dataclass: one is made per command, and a frozen
    dataclass's ``__init__`` cost several times more on a bulk import.
    """

    effective_at: datetime
    recorded_at: datetime
    actor: str
    command_id: str | None = None
    provenance: dict[str, str] | None = None
    command_digest: str | None = None  # what the command said, to tell a retry from a reuse


def as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("timestamp needs a UTC offset")
    return moment.astimezone(UTC)


def end_of_day(day: date) -> datetime:
    """A date-only due date means 'by the end of that day' (UTC)."""
    return datetime(day.year, day.month, day.day, 23, 59, 59, 999999, tzinfo=UTC)


def outside_years(moment: date) -> str | None:
    """Why the instant or date is out of the engine's range (None when it is not)."""
    if FIRST_YEAR <= moment.year <= LAST_YEAR:
        return None
    return f"must fall between {FIRST_YEAR}-01-01 and {LAST_YEAR}-12-31 (UTC)"
