"""How the report properties ask a report, drawn at random: grouped or not, one policy or
all, with the policies' own size bands or given ones (and, for the reports at one
instant, for one owner or team); and the report so asked, on a history's read models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import NamedTuple, Protocol, TypeVar

from hypothesis import strategies as st
from sqlalchemy import Connection, Engine

from salesengine.domain.policy import FunnelPolicy
from salesengine.reports.open_deals import Only
from salesengine.reports.size_bands import Banding
from tests.support.busy_histories import moments
from tests.support.histories import POLICIES, TEAMS, Built
from tests.support.timelines import bandings, group_by

Result_co = TypeVar("Result_co", covariant=True)
Result = TypeVar("Result")


class WindowReport(Protocol[Result_co]):
    """conversion, cycle_time, moves: a report of the window [start, end)."""

    def __call__(
        self,
        conn: Connection,
        policies: Mapping[str, FunnelPolicy],
        *,
        start: datetime,
        end: datetime,
        known_at: datetime | None = None,
        by: str | None = None,
        policy: str | None = None,
        size_bands: Sequence[Decimal] | None = None,
    ) -> Result_co: ...


class InstantReport(Protocol[Result_co]):
    """forecast, health: a report of the open deals at one instant."""

    def __call__(
        self,
        conn: Connection,
        policies: Mapping[str, FunnelPolicy],
        *,
        as_of: datetime,
        known_at: datetime | None = None,
        policy: str | None = None,
        by: str | None = None,
        only: Only | None = None,
        size_bands: Sequence[Decimal] | None = None,
    ) -> Result_co: ...


class WindowQuery(NamedTuple):
    by: str | None
    policies: dict[str, FunnelPolicy]
    given: tuple[Decimal, ...] | None  # --size-bands
    banding: Banding
    policy: str | None


def window_query(data: st.DataObject) -> WindowQuery:
    """A grouping, the policies and size bands, then one policy or all (half the time)."""
    by = group_by(data)
    policies, given, banding = bandings(data)
    policy = data.draw(st.sampled_from([None, None, *sorted(POLICIES)]))
    return WindowQuery(by, policies, given, banding, policy)


def window_report(
    report: WindowReport[Result],
    sql: Engine,
    start: datetime,
    end: datetime,
    known_at: datetime | None,
    query: WindowQuery,
) -> Result:
    with sql.connect() as conn:
        return report(
            conn,
            query.policies,
            start=start,
            end=end,
            known_at=known_at,
            by=query.by,
            policy=query.policy,
            size_bands=query.given,
        )


class InstantQuery(NamedTuple):
    t: datetime
    k: datetime | None
    policy: str | None
    by: str | None
    only: Only
    policies: dict[str, FunnelPolicy]
    given: tuple[Decimal, ...] | None  # --size-bands
    banding: Banding


def instant_query(data: st.DataObject, b: Built, owners: Sequence[str]) -> InstantQuery:
    """(T, K) near the history's instants and the day counts that matter after them, T
    in one of several zones (weeks are UTC weeks all the same); then one policy or all,
    a grouping, perhaps one of ``owners`` or a team, and the policies and size bands."""
    t, k = moments(data, b)
    t = t.astimezone(timezone(timedelta(hours=data.draw(st.sampled_from([0, 8, -5])))))
    policy = data.draw(st.sampled_from([None, *sorted(POLICIES)]))
    by = group_by(data)
    only = Only(
        owner=data.draw(st.sampled_from([None, None, *owners])),
        team=data.draw(st.sampled_from([None, None, *TEAMS])),
    )
    policies, given, banding = bandings(data)
    return InstantQuery(t, k, policy, by, only, policies, given, banding)


def instant_report(report: InstantReport[Result], sql: Engine, query: InstantQuery) -> Result:
    with sql.connect() as conn:
        return report(
            conn,
            query.policies,
            as_of=query.t,
            known_at=query.k,
            policy=query.policy,
            by=query.by,
            only=query.only,
            size_bands=query.given,
        )
