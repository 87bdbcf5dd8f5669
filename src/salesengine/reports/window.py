"""What the window reports share (conversion, cycle time): a window [F, U), the deal's
attributes at an instant given by a column, and which rows to list.

Each of these reports places a deal in the window by one instant (its first entry into
a stage, an interval's exit, a win); it is grouped by its attributes at that instant,
as known at K (docs/metrics.md).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, FromClause, and_, or_

from salesengine.domain.policy import FunnelPolicy
from salesengine.projections import deal_attributes
from salesengine.projections.base import to_us
from salesengine.reports.common import group_sql, known
from salesengine.reports.size_bands import Banding
from salesengine.reports.slicing import Sliced

ATTRIBUTES = deal_attributes.table
Cell = TypeVar("Cell")  # what a report found for one (policy, stage, group)


def check_window(start: datetime, end: datetime) -> None:
    if end <= start:
        raise ValueError("the window's end must be after its start")


def known_in(source: FromClause, known_at: datetime | None) -> ColumnElement[bool]:
    """``common.known`` for an aliased read-model table (a self-join)."""
    t = source.c
    # A self-join reaches one deal's rows by its key. "+ 0" keeps SQLite off the
    # (recorded_to, entered_at) index, which it would otherwise prefer without statistics
    # and which walks every deal's rows for each outer row.
    recorded_to = t.recorded_to + 0
    if known_at is None:
        return recorded_to.is_(None)
    k = to_us(known_at)
    return and_(t.recorded_from <= k, or_(recorded_to.is_(None), recorded_to > k))


def attributes_at(deal_id: Any, instant: Any, known_at: datetime | None) -> ColumnElement[bool]:
    """Join condition: the deal's attribute segment holding at ``instant`` (a column)."""
    a = ATTRIBUTES.c
    return and_(
        a.deal_id == deal_id,
        a.valid_from <= instant,
        or_(a.valid_to.is_(None), a.valid_to > instant),
        known(ATTRIBUTES, known_at),
    )


def grouping(by: str | None, banding: Banding | None = None) -> ColumnElement[Any] | None:
    group = group_sql(ATTRIBUTES, by, banding)
    return None if group is None else group.label("grp")


def every_stage(
    found: Mapping[tuple[str, str, Any], Cell],
    policies: Mapping[str, FunnelPolicy],
    sliced: Sliced,
    after: tuple[str, ...] = (),
) -> Iterator[tuple[str, str, Any, Cell | None]]:
    """(policy, stage, group, what was found there or None) for every stage of the
    policy's order (then ``after``), in each slice to list: those with anything found; a
    policy asked for by name without grouping even when nothing is."""
    present = {(name, grp) for name, _, grp in found}
    if sliced.policy is not None and sliced.by is None:
        present.add((sliced.policy, None))
    for name, _ in present:
        if name not in policies:
            raise KeyError(f"no policy '{name}' in the catalog")
    for name, grp in sliced.in_order(present):
        for stage in (*policies[name].stage_keys, *after):
            yield name, stage, grp, found.get((name, stage, grp))
