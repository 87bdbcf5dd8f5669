"""Open deals at T, known at K: the funnel's join of stage intervals and deal attributes,
kept to deals at a stage (not an outcome), for reports that need more than its counts.

Also the calendar the forecast and health reports share: UTC dates and ISO weeks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, select

from salesengine.access.principal import Scope
from salesengine.access.scope_sql import scoped
from salesengine.domain.values import OUTCOMES
from salesengine.reports.common import holds_at, known
from salesengine.reports.funnel import ATTRIBUTES, INTERVALS, deals_at


@dataclass(frozen=True, slots=True)
class Only:
    """Which deals a report keeps (``--owner``, ``--team``), by their attributes at T
    known at K; ``None`` keeps every value."""

    owner: str | None = None
    team: str | None = None

    @property
    def everyone(self) -> bool:
        return self.owner is None and self.team is None

    def where(self, query: Select[Any]) -> Select[Any]:
        """``query`` over the deal attributes, kept to the chosen deals."""
        a = ATTRIBUTES.c
        for column, value in ((a.owner, self.owner), (a.team, self.team)):
            if value is not None:
                query = query.where(column == value)
        return query


def open_deals(
    *columns: Any,
    at: datetime,
    known_at: datetime | None,
    policy: str | None = None,
    only: Only | None = None,
    scope: Scope | None = None,
) -> Select[Any]:
    """``columns`` of the open deals at T known at K (one interval and one segment each),
    of ``policy``, of ``only``'s owner and team, and in ``scope`` (None: every deal)."""
    i = INTERVALS.c
    query = deals_at(*columns, at=at, known_at=known_at).where(i.stage.not_in(OUTCOMES))
    if policy is not None:
        query = query.where(i.policy == policy)
    query = scoped(query, scope, i.deal_id)
    return query if only is None else only.where(query)


def selected_deals(at: datetime, known_at: datetime | None, only: Only) -> Select[Any]:
    """The ids of the deals, open or not, whose attributes at T (known at K) ``only`` keeps."""
    a = ATTRIBUTES.c
    query = select(a.deal_id).where(
        holds_at(a.valid_from, a.valid_to, at), known(ATTRIBUTES, known_at)
    )
    return only.where(query)


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def week_start(day: date) -> date:
    """The Monday of the day's ISO week."""
    return day - timedelta(days=day.weekday())


def week_label(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
