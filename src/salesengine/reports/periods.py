"""Planning periods (docs/metrics.md, "Plan"): a year, quarter, month, ISO week or an
explicit [F, U), and the period of the same length immediately before it. UTC throughout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from salesengine.domain.values import outside_years

_YEAR = re.compile(r"(\d{4})")
_QUARTER = re.compile(r"(\d{4})-[Qq]([1-4])")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_WEEK = re.compile(r"(\d{4})-W(\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
SYNTAX = "YYYY, YYYY-Qn, YYYY-MM, YYYY-Www or F..U"


@dataclass(frozen=True, slots=True)
class Period:
    name: str
    start: datetime  # included
    end: datetime  # excluded
    unit: str  # year, quarter, month, week, or range

    def previous(self) -> Period:
        """The same calendar unit just before; an explicit range shifted back by its length."""
        before = self.start - timedelta(microseconds=1)
        match self.unit:
            case "year":
                return _year(before.year)
            case "quarter":
                return _quarter(before.year, (before.month - 1) // 3 + 1)
            case "month":
                return _month(before.year, before.month)
            case "week":
                iso = before.isocalendar()
                return _week(iso.year, iso.week)
        start = self.start - (self.end - self.start)
        return Period(f"{_show(start)}..{_show(self.start)}", start, self.start, "range")

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "from": self.start, "to": self.end}


def parse_period(text: str) -> Period:
    """A period from its name; ValueError says what is wrong with it."""
    try:
        period = _parse(text)
    except OverflowError:  # a period running past the calendar's end (9999-W52)
        raise ValueError(f"{text!r}: {outside_years(date.max)}") from None
    for end in (period.start, period.end - timedelta(microseconds=1)):
        reason = outside_years(end)
        if reason is not None:
            raise ValueError(f"{text!r}: {reason}")
    return period


def _parse(text: str) -> Period:
    value = text.strip()
    if ".." in value:
        first, _, last = value.partition("..")
        try:
            start, end = _instant(first.strip()), _instant(last.strip())
        except ValueError as e:
            raise ValueError(f"{text!r}: {e}") from None
        if end <= start:
            raise ValueError(f"{text!r}: the end must be after the start")
        return Period(f"{_show(start)}..{_show(end)}", start, end, "range")
    try:
        if m := _YEAR.fullmatch(value):
            return _year(int(m[1]))
        if m := _QUARTER.fullmatch(value):
            return _quarter(int(m[1]), int(m[2]))
        if m := _MONTH.fullmatch(value):
            return _month(int(m[1]), int(m[2]))
        if m := _WEEK.fullmatch(value):
            return _week(int(m[1]), int(m[2]))
    except ValueError as e:
        raise ValueError(f"{text!r}: {e}") from None
    raise ValueError(f"{text!r} is not a period ({SYNTAX})")


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _year(year: int) -> Period:
    return Period(
        f"{year:04d}", _midnight(date(year, 1, 1)), _midnight(date(year + 1, 1, 1)), "year"
    )


def _quarter(year: int, quarter: int) -> Period:
    start = date(year, 3 * quarter - 2, 1)
    end = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return Period(f"{year:04d}-Q{quarter}", _midnight(start), _midnight(end), "quarter")


def _month(year: int, month: int) -> Period:
    start = date(year, month, 1)  # ValueError for month 13
    end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return Period(f"{year:04d}-{month:02d}", _midnight(start), _midnight(end), "month")


def _week(year: int, week: int) -> Period:
    start = date.fromisocalendar(year, week, 1)  # ValueError for a week the year lacks
    end = start + timedelta(days=7)
    return Period(f"{year:04d}-W{week:02d}", _midnight(start), _midnight(end), "week")


def _instant(value: str) -> datetime:
    """As the window reports: a date is its midnight UTC; an instant needs its offset."""
    if _DATE.fullmatch(value):
        return _midnight(date.fromisoformat(value))  # ValueError for 2026-02-30
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is neither a date (YYYY-MM-DD) nor an instant") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} needs a UTC offset (e.g. +08:00)")
    return parsed


def _show(instant: datetime) -> str:
    """A date when the instant is a UTC midnight, else the full instant."""
    utc = instant.astimezone(UTC)
    if utc == _midnight(utc.date()):
        return utc.date().isoformat()
    return instant.isoformat()
