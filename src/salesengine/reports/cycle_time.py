"""Cycle time over a window [F, U), known at K (docs/metrics.md).

For stage S: the days in S of every interval of S whose exit lies in [F, U). The row
``won``: for every entry into won in [F, U), the days from the deal's opening to it.
Durations come from SQL as exact microseconds; the statistics are computed here, the
same on every database.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Unpack

from sqlalchemy import Connection, FromClause, and_, select

from salesengine.access.principal import Scope
from salesengine.access.scope_sql import scoped
from salesengine.domain.policy import FunnelPolicy
from salesengine.domain.values import OUTCOMES
from salesengine.projections import stage_intervals
from salesengine.projections.base import to_us
from salesengine.reports.common import known, row_dict
from salesengine.reports.slicing import Sliced, Slicing
from salesengine.reports.window import (
    ATTRIBUTES,
    attributes_at,
    check_window,
    every_stage,
    grouping,
    known_in,
)

INTERVALS = stage_intervals.table
WON = "won"
US_PER_SECOND = 1_000_000
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True, slots=True)
class CycleTimeRow:
    policy: str
    stage: str  # a stage key, or "won": days from opening to won
    count: int
    mean_days: float | None
    median_days: float | None
    p90_days: float | None
    group: str | None = None  # the value of the --by grouping, if any

    def as_dict(self, by: str | None = None) -> dict[str, Any]:
        return row_dict(self, by)


def days(microseconds: int) -> float:
    """Days in stage as METRICS.md has it: seconds (exact to the microsecond) / 86400."""
    return microseconds / US_PER_SECOND / SECONDS_PER_DAY


def median(ordered: Sequence[float]) -> float:
    """The middle value; the mean of the two middle values for an even count."""
    n = len(ordered)
    middle = n // 2
    if n % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def percentile(ordered: Sequence[float], percent: int) -> float:
    """Linear interpolation between the closest ranks (numpy.percentile's default).

    The rank ``(n - 1) * percent / 100`` is split exactly into its whole and fractional
    parts, so a rank that is a whole number never picks up rounding error.
    """
    n = len(ordered)
    whole, part = divmod((n - 1) * percent, 100)
    low = ordered[whole]
    if part == 0:
        return low
    high = ordered[whole + 1]
    return low + (high - low) * part / 100


def statistics(
    policy: str, stage: str, group: str | None, durations: Sequence[int]
) -> CycleTimeRow:
    if not durations:
        return CycleTimeRow(policy, stage, 0, None, None, None, group)
    ordered = sorted(days(d) for d in durations)
    mean = math.fsum(ordered) / len(ordered)
    return CycleTimeRow(
        policy, stage, len(ordered), mean, median(ordered), percentile(ordered, 90), group
    )


def durations(
    conn: Connection,
    start: datetime,
    end: datetime,
    sliced: Sliced,
    scope: Scope | None = None,
) -> list[tuple[str, str, Any, int]]:
    """(policy, stage or won, group, microseconds) for every interval and win counted,
    of the deals in ``scope`` (None: every deal)."""
    known_at, policy = sliced.known_at, sliced.policy
    i = INTERVALS.c
    f, u = to_us(start), to_us(end)
    group = grouping(sliced.by, sliced.banding)
    extra = [group] if group is not None else []

    source: FromClause = INTERVALS
    if group is not None:
        source = INTERVALS.join(ATTRIBUTES, attributes_at(i.deal_id, i.exited_at, known_at))
    stays = (
        select(i.policy, i.stage, *extra, (i.exited_at - i.entered_at).label("us"))
        .select_from(source)
        .where(
            known(INTERVALS, known_at),
            i.exited_at >= f,
            i.exited_at < u,
            i.stage.not_in(OUTCOMES),
        )
    )

    opening = INTERVALS.alias("opening")
    wins: FromClause = INTERVALS.join(
        opening,
        and_(
            opening.c.deal_id == i.deal_id,
            opening.c.via == "opened",
            known_in(opening, known_at),
        ),
    )
    if group is not None:
        wins = wins.join(ATTRIBUTES, attributes_at(i.deal_id, i.entered_at, known_at))
    won = (
        select(
            i.policy,
            i.stage,
            *extra,
            (i.entered_at - opening.c.entered_at).label("us"),
        )
        .select_from(wins)
        .where(known(INTERVALS, known_at), i.stage == WON, i.entered_at >= f, i.entered_at < u)
    )
    if policy is not None:
        stays = stays.where(i.policy == policy)
        won = won.where(i.policy == policy)
    rows = []
    for query in (scoped(stays, scope, i.deal_id), scoped(won, scope, i.deal_id)):
        for r in conn.execute(query):
            grp = r[2] if group is not None else None
            rows.append((r[0], r[1], grp, int(r[-1])))
    return rows


def cycle_time(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    *,
    start: datetime,
    end: datetime,
    scope: Scope | None = None,
    **slicing: Unpack[Slicing],
) -> list[CycleTimeRow]:
    """Every stage, then ``won``, of each (policy, group) slice with anything in the
    window. ``scope``: only the deals a principal reaches (docs/access.md); None: every
    deal."""
    check_window(start, end)
    sliced = Sliced.of(policies, slicing)
    found: dict[tuple[str, str, Any], list[int]] = {}
    for name, stage, grp, us in durations(conn, start, end, sliced, scope):
        found.setdefault((name, stage, grp), []).append(us)
    return [
        statistics(name, stage, grp, stays or [])
        for name, stage, grp, stays in every_stage(found, policies, sliced, (WON,))
    ]
