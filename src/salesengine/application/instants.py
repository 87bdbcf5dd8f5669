"""Instants as people type them: ISO 8601 with a UTC offset, or a plain date meaning the
start of that day in UTC (docs/rules.md, "Instants on the command line"). The command
line's options and the service's query parameters both read them here, so all agree."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import cache
from typing import TYPE_CHECKING

from salesengine.domain.values import ISO_START, outside_years

if TYPE_CHECKING:
    from pydantic import AwareDatetime, TypeAdapter

# pydantic is imported on the first instant with a time of day, not at import: the
# command line imports this module when it starts.

DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
FORMS = "ISO 8601 with offset, e.g. 2026-03-31T18:00:00+08:00, or a date, 2026-03-31"


@cache
def _aware() -> TypeAdapter[AwareDatetime]:
    from pydantic import AwareDatetime, TypeAdapter

    return TypeAdapter(AwareDatetime)


def parse_instant(value: str) -> datetime:
    """The instant ``value`` names; ``ValueError`` says why it names none."""
    if DAY.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError as e:
            raise ValueError(f"{value!r}: {e} ({FORMS})") from None
        reason = outside_years(day)
        if reason is not None:
            raise ValueError(f"{value!r}: {reason}")
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    if not ISO_START.match(value):
        raise ValueError(f"{value!r}: not an ISO 8601 date and time ({FORMS})")
    from pydantic import ValidationError

    try:
        moment = _aware().validate_python(value)
    except ValidationError as e:
        reason = e.errors()[0]["msg"]
        raise ValueError(f"{value!r}: {reason} ({FORMS})") from None
    try:  # the range holds in UTC, as it does for the command language
        outside = outside_years(moment.astimezone(UTC))
    except OverflowError:
        outside = outside_years(date.max)
    if outside is not None:
        raise ValueError(f"{value!r}: {outside}")
    return moment
