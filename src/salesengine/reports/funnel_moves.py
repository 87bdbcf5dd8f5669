"""What moved through the funnel between T and T2, known at K (docs/metrics.md, "Moves
between T and T2").

Read from the stage intervals: an interval entered in (T, T2] is a move into its stage,
one exited then a move out of it, to the deal's next interval. Each move counts with the
deal's amount, currency and group at its own instant (the deal attributes holding then);
the funnels as of T and T2 give the ``start`` and ``end`` columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Unpack

from sqlalchemy import ColumnElement, Connection, Select, func, null, or_, select

from salesengine.access.principal import Scope
from salesengine.access.scope_sql import scoped
from salesengine.domain.policy import FunnelPolicy
from salesengine.domain.values import OUTCOMES
from salesengine.projections import stage_intervals
from salesengine.projections.base import from_units, to_us
from salesengine.reports.common import known, row_dict
from salesengine.reports.funnel import positions_at
from salesengine.reports.slicing import Sliced, Slicing
from salesengine.reports.window import ATTRIBUTES, attributes_at, grouping

INTERVALS = stage_intervals.table

# The columns of a row, in order: the snapshots around the moves, out split by destination.
MEASURES = ("start", "in", "out", "advanced", "regressed", "won", "lost", "abandoned", "end")
DESTINATIONS = ("advanced", "regressed", "won", "lost", "abandoned")
RowKey = tuple[str, str, str, Any]  # policy, stage or outcome, currency, group


@dataclass(frozen=True, slots=True)
class Tally:
    deals: int = 0
    amount: Decimal = Decimal(0)

    def plus(self, deals: int, amount: Decimal) -> Tally:
        return Tally(self.deals + deals, self.amount + amount)


@dataclass(frozen=True, slots=True)
class MoveRow:
    """One stage (or outcome) of one (policy, currency, group) slice."""

    policy: str
    stage: str
    currency: str
    group: str | None
    tallies: Mapping[str, Tally]  # by measure, each of MEASURES

    def __getitem__(self, measure: str) -> Tally:
        return self.tallies[measure]

    def as_dict(self, by: str | None = None) -> dict[str, Any]:
        row = row_dict(self, by)
        del row["tallies"]  # a deals and an amount column per measure instead
        for measure in MEASURES:
            row[measure] = self[measure].deals
            row[f"{measure}_amount"] = self[measure].amount
        return row


def moves(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    *,
    start: datetime,
    end: datetime,
    scope: Scope | None = None,
    **slicing: Unpack[Slicing],
) -> list[MoveRow]:
    """Every stage and outcome of each (policy, currency, group) slice with anything to
    show, the moves of (start, end] counted as docs/metrics.md defines them. ``scope``:
    only the deals a principal reaches (docs/access.md); None counts every deal."""
    if end <= start:
        raise ValueError("the second instant must be after the first")
    sliced = Sliced.of(policies, slicing)
    found: dict[RowKey, dict[str, Tally]] = {}

    def add(key: tuple[str, str, str | None, Any], measure: str, deals: int, units: int) -> None:
        name, stage, currency, grp = key
        cell = found.setdefault((name, stage, currency or policies[name].currency, grp), {})
        cell[measure] = cell.get(measure, Tally()).plus(deals, from_units(units))

    for measure, at in (("start", start), ("end", end)):
        for name, stage, currency, _version, grp, deals, units in positions_at(
            conn, at, sliced, scope
        ):
            add((name, stage, currency, grp), measure, deals, units)
    for name, stage, currency, grp, deals, units in _entries(conn, start, end, sliced, scope):
        add((name, stage, currency, grp), "in", deals, units)
    for name, stage, dest, currency, grp, deals, units in _exits(conn, start, end, sliced, scope):
        add((name, stage, currency, grp), "out", deals, units)
        where = _destination(policies[name], stage, dest)
        if where is not None:
            add((name, stage, currency, grp), where, deals, units)

    rows: list[MoveRow] = []
    for name, currency, grp in sliced.in_order((p, c, g) for p, _, c, g in found):
        for stage in (*policies[name].stage_keys, *OUTCOMES):
            cell = found.get((name, stage, currency, grp), {})
            tallies = {m: cell.get(m, Tally()) for m in MEASURES}
            rows.append(MoveRow(name, stage, currency, grp, tallies))
    return rows


def _destination(spec: FunnelPolicy, stage: str, dest: str | None) -> str | None:
    """Which of DESTINATIONS a move out of ``stage`` into ``dest`` is (None: a reopening)."""
    if stage in OUTCOMES or dest is None:
        return None
    if dest in OUTCOMES:
        return dest
    return "advanced" if spec.index(dest) > spec.index(stage) else "regressed"


def _counted(conn: Connection, inner: Select[Any], keys: int) -> list[tuple[Any, ...]]:
    """``inner``'s rows counted, and their amounts summed, per its first ``keys`` columns
    (the last of them the group): each with ``deals`` and amount ``units`` after them.

    The group is computed in the subquery: PostgreSQL would not see a parameterised CASE
    (the size bands) in GROUP BY as the same expression as in the select list."""
    q = inner.subquery("moves")
    columns = list(q.c)[:keys]
    query = select(*columns, func.count(), func.sum(q.c.amount)).group_by(*columns)
    return [(*r[:keys], int(r[keys]), int(r[keys + 1] or 0)) for r in conn.execute(query)]


def _entries(
    conn: Connection, start: datetime, end: datetime, sliced: Sliced, scope: Scope | None
) -> list[tuple[Any, ...]]:
    """(policy, stage, currency, group, deals, units) of the intervals entered in the period."""
    i, a, known_at = INTERVALS.c, ATTRIBUTES.c, sliced.known_at
    inner = (
        select(i.policy, i.stage, a.currency, _group(sliced), a.amount)
        .select_from(INTERVALS.join(ATTRIBUTES, attributes_at(i.deal_id, i.entered_at, known_at)))
        .where(known(INTERVALS, known_at), i.entered_at > to_us(start), i.entered_at <= to_us(end))
    )
    if sliced.policy is not None:
        inner = inner.where(i.policy == sliced.policy)
    return _counted(conn, scoped(inner, scope, i.deal_id), 4)


def _exits(
    conn: Connection, start: datetime, end: datetime, sliced: Sliced, scope: Scope | None
) -> list[tuple[Any, ...]]:
    """(policy, stage, next stage, currency, group, deals, units) of the intervals exited
    in the period."""
    i, known_at = INTERVALS.c, sliced.known_at
    following = func.lead(i.stage).over(
        partition_by=i.deal_id, order_by=(i.entered_at, i.entered_version)
    )
    # An interval exited in the period and the next one (entered then) both end after T
    # and begin by T2: the window needs no other rows of the deal.
    timeline = select(i.deal_id, i.policy, i.stage, i.exited_at, following.label("dest")).where(
        known(INTERVALS, known_at),
        or_(i.exited_at.is_(None), i.exited_at > to_us(start)),
        i.entered_at <= to_us(end),
    )
    if sliced.policy is not None:
        timeline = timeline.where(i.policy == sliced.policy)
    t = scoped(timeline, scope, i.deal_id).subquery("timeline")
    a = ATTRIBUTES.c
    inner = (
        select(t.c.policy, t.c.stage, t.c.dest, a.currency, _group(sliced), a.amount)
        .select_from(t.join(ATTRIBUTES, attributes_at(t.c.deal_id, t.c.exited_at, known_at)))
        .where(t.c.exited_at > to_us(start), t.c.exited_at <= to_us(end))
    )
    return _counted(conn, inner, 5)


def _group(sliced: Sliced) -> ColumnElement[Any]:
    """The ``--by`` group of the deal attributes joined, or null when not grouped."""
    group = grouping(sliced.by, sliced.banding)
    return null().label("grp") if group is None else group
