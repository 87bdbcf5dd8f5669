"""The periods, targets and currencies the quota, plan and portfolio answers take, read
as the command line reads its options. A bad value is a 422 naming the parameter."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import Query

from salesengine.reports.periods import Period, parse_period
from salesengine.service.params import invalid

QUOTA_UNITS = ("year", "quarter", "month")

CurrencyQuery = Annotated[
    str | None,
    Query(pattern="^[A-Za-z]{3}$", description="ISO 4217 code; default the policy's."),
]
RepQuery = Annotated[str | None, Query(description="Only this rep (deal owner).")]
SubjectTeamQuery = Annotated[str | None, Query(description="Only this team.")]


def period(text: str | None, name: str = "period") -> Period | None:
    """Any period the plan takes (SYNTAX), or None when none was given."""
    if text is None:
        return None
    try:
        return parse_period(text)
    except ValueError as e:
        raise invalid(name, str(e)) from None


def quota_period(text: str | None, t: datetime) -> Period:
    """A period quotas are set for (a year, quarter or month); by default the calendar
    quarter containing T (UTC), as ``salesengine vvalue`` reads it."""
    if text is None:
        utc = t.astimezone(UTC)
        return parse_period(f"{utc.year:04d}-Q{(utc.month - 1) // 3 + 1}")
    chosen = period(text)
    assert chosen is not None
    if chosen.unit not in QUOTA_UNITS:
        raise invalid(
            "period",
            f"{text!r}: quotas are set per year, quarter or month (YYYY, YYYY-Qn, YYYY-MM)",
        )
    return chosen


def target(text: str | None, name: str = "target") -> Decimal | None:
    if text is None:
        return None
    from salesengine.reports.plan import parse_target

    try:
        return parse_target(text)
    except ValueError as e:
        raise invalid(name, str(e)) from None
