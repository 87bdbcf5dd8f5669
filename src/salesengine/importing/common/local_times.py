"""Dates and times as CSV exports write them: ISO 8601, local to a zone unless offset."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def zone(name: str) -> tzinfo:
    """A time zone by IANA name (``UTC``, ``Europe/Berlin``); ValueError if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as UTC)") from None


def parse_instant(text: str, tz: tzinfo) -> datetime | None:
    """An ISO 8601 date or time; a date is its midnight and a time without offset is in
    ``tz``. None when the text is not a date, or names a local time that did not happen
    or happened twice (``date_problem`` says which)."""
    moment = _read_iso(text.strip(), tz)
    if isinstance(moment, str) or local_problem(moment, tz):
        return None
    return moment


def date_problem(text: str, tz: tzinfo) -> str:
    """Why ``parse_instant`` could not read the text, in the command language's terms
    and with the text as given: the row is refused with it."""
    value = text.strip()
    moment = _read_iso(value, tz)
    reason = moment if isinstance(moment, str) else local_problem(moment, tz)
    return f"field 'at': {reason} (given: {value!r})"


def _read_iso(text: str, tz: tzinfo) -> datetime | str:
    """The instant, or why the text is not one."""
    unread = "not an ISO 8601 date or time (YYYY-MM-DD, or YYYY-MM-DDTHH:MM[:SS][+HH:MM])"
    if not (_DAY.fullmatch(text) or (text[:4].isdigit() and len(text) > 10 and text[4] == "-")):
        return unread
    try:
        if _DAY.fullmatch(text):
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=tz)
        moment = datetime.fromisoformat(text)
    except ValueError as e:
        return str(e) if "out of range" in str(e) or "must be in" in str(e) else unread
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=tz)


def local_problem(moment: datetime, tz: tzinfo) -> str | None:
    """A local time in the clocks' change: one that did not happen (they went forward)
    or happened twice (they went back). Either would be a guess, so the row says which
    instant it means by giving the UTC offset."""
    if moment.tzinfo is not tz:
        return None  # the text gave its offset
    early, late = moment.replace(fold=0), moment.replace(fold=1)
    if early.utcoffset() == late.utcoffset():
        return None
    local = f"{moment:%Y-%m-%d %H:%M} in {tz}"
    if early.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != moment.replace(tzinfo=None):
        return f"{local} did not happen (the clocks went forward); give the UTC offset"
    return f"{local} happened twice (the clocks went back); give the UTC offset"
