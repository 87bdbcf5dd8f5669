"""Conversion and drop-off over a window [F, U), known at K (docs/metrics.md).

For stage S the cohort is the deals whose first entry into S lies in [F, U). Of it,
``advanced`` later (in timeline order) reached a stage after S in the policy's order or
won; ``lost`` did not, and its latest stage-timeline entry is lost or abandoned; the
rest are ``open``. Everything is read from the stage intervals known at K, whatever
their effective time: a deal's later history counts even when it lies after U.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Unpack

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    and_,
    case,
    exists,
    false,
    func,
    or_,
    select,
)

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
ENDED_UNWON = ("lost", "abandoned")


@dataclass(frozen=True, slots=True)
class ConversionRow:
    policy: str
    stage: str
    cohort: int
    advanced: int
    lost: int
    open: int
    group: str | None = None  # the value of the --by grouping, if any

    @property
    def conversion(self) -> float | None:
        return None if self.cohort == 0 else self.advanced / self.cohort

    @property
    def drop_off(self) -> float | None:
        return None if self.cohort == 0 else self.lost / self.cohort

    def as_dict(self, by: str | None = None) -> dict[str, Any]:
        return row_dict(self, by, "conversion", "drop_off")


def _beyond(
    policies: Mapping[str, FunnelPolicy], policy: Any, stage: Any, later: Any
) -> ColumnElement[bool]:
    """``later`` is won, or a stage after ``stage`` in ``policy``'s order."""
    terms: list[ColumnElement[bool]] = [later == "won"]
    for name, spec in policies.items():
        keys = spec.stage_keys
        for rank, key in enumerate(keys[:-1]):
            terms.append(and_(policy == name, stage == key, later.in_(keys[rank + 1 :])))
    return or_(false(), *terms)


def cohort_counts(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    start: datetime,
    end: datetime,
    sliced: Sliced,
    scope: Scope | None = None,
) -> list[tuple[str, str, Any, int, int, int]]:
    """(policy, stage, group, cohort, advanced, lost) per combination with a cohort, of
    the deals in ``scope`` (None: every deal)."""
    known_at = sliced.known_at
    i = INTERVALS.c
    order = func.row_number().over(
        partition_by=(i.deal_id, i.stage), order_by=(i.entered_at, i.entered_version)
    )
    # Entries before U suffice to find every first entry that lies before U.
    entries = select(
        i.deal_id, i.policy, i.stage, i.entered_at, i.entered_version, order.label("nth")
    ).where(known(INTERVALS, known_at), i.entered_at < to_us(end), i.stage.not_in(OUTCOMES))
    if sliced.policy is not None:
        entries = entries.where(i.policy == sliced.policy)
    es = scoped(entries, scope, i.deal_id).subquery("entries")
    e = es.c

    later = INTERVALS.alias("later")
    advanced = exists().where(
        later.c.deal_id == e.deal_id,
        known_in(later, known_at),
        or_(
            later.c.entered_at > e.entered_at,
            and_(later.c.entered_at == e.entered_at, later.c.entered_version > e.entered_version),
        ),
        _beyond(policies, e.policy, e.stage, later.c.stage),
    )
    # The latest entry of a deal's timeline is its one interval without an exit.
    last = INTERVALS.alias("last")
    ended_unwon = exists().where(
        last.c.deal_id == e.deal_id,
        known_in(last, known_at),
        last.c.exited_at.is_(None),
        last.c.stage.in_(ENDED_UNWON),
    )
    group = grouping(sliced.by, sliced.banding)
    source: FromClause = es
    if group is not None:
        source = es.join(ATTRIBUTES, attributes_at(e.deal_id, e.entered_at, known_at))
    flags = (
        select(
            e.policy,
            e.stage,
            *([group] if group is not None else []),
            case((advanced, 1), else_=0).label("adv"),
            case((and_(~advanced, ended_unwon), 1), else_=0).label("gone"),
        )
        .select_from(source)
        .where(e.nth == 1, e.entered_at >= to_us(start))
    )
    f = flags.subquery("flags").c
    keys: list[Any] = [f.policy, f.stage, *([f.grp] if group is not None else [])]
    query = select(*keys, func.count(), func.sum(f.adv), func.sum(f.gone)).group_by(*keys)
    rows = []
    for r in conn.execute(query):
        grp = r[2] if group is not None else None
        cohort, adv, gone = r[-3:]
        rows.append((r[0], r[1], grp, int(cohort), int(adv or 0), int(gone or 0)))
    return rows


def conversion(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    *,
    start: datetime,
    end: datetime,
    scope: Scope | None = None,
    **slicing: Unpack[Slicing],
) -> list[ConversionRow]:
    """Every stage of each (policy, group) slice with a cohort in [start, end).
    ``scope``: only the deals a principal reaches (docs/access.md); None: every deal."""
    check_window(start, end)
    sliced = Sliced.of(policies, slicing)
    counts = {
        (name, stage, grp): (cohort, adv, gone)
        for name, stage, grp, cohort, adv, gone in cohort_counts(
            conn, policies, start, end, sliced, scope
        )
    }
    rows: list[ConversionRow] = []
    for name, stage, grp, cell in every_stage(counts, policies, sliced):
        cohort, adv, gone = cell or (0, 0, 0)
        rows.append(ConversionRow(name, stage, cohort, adv, gone, cohort - adv - gone, grp))
    return rows
