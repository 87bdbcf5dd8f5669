"""The funnel as of T, known at K (docs/metrics.md, "Funnel as of T").

A deal counts if its opening is effective at or before T; its row is the stage (or
outcome) of the stage interval containing T, its amount the latest amount effective at
or before T, and its weighted amount that amount times the stage's probability under
the policy version that interval was entered under (reports/weights.py). Amounts in
different currencies are never added together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Unpack

from sqlalchemy import Connection, Select, func, select

from salesengine.access.principal import Scope
from salesengine.access.scope_sql import scoped
from salesengine.domain.policy import FunnelPolicy
from salesengine.domain.values import OUTCOMES
from salesengine.projections import deal_attributes, stage_intervals
from salesengine.projections.base import from_units
from salesengine.reports.common import group_sql, holds_at, known
from salesengine.reports.funnel_sums import funnel_sums
from salesengine.reports.slicing import Sliced, Slicing
from salesengine.reports.weights import weights

INTERVALS = stage_intervals.table
ATTRIBUTES = deal_attributes.table


@dataclass(frozen=True, slots=True)
class FunnelReportRow:
    """One stage (or outcome) of one (policy, currency, group) slice of the funnel report,
    read from the read models."""

    policy: str
    stage: str
    currency: str
    deals: int
    amount: Decimal
    weighted: Decimal
    group: str | None = None  # the value of the --by grouping, if any

    def as_dict(self, by: str | None = None) -> dict[str, Any]:
        row: dict[str, Any] = {
            "policy": self.policy,
            "stage": self.stage,
            "currency": self.currency,
            "deals": self.deals,
            "amount": self.amount,
            "weighted": self.weighted,
        }
        if by is not None:
            row[by] = self.group
        return row


def deals_at(*columns: Any, at: datetime, known_at: datetime | None) -> Select[Any]:
    """``columns`` of each deal's stage interval and attribute segment holding at T, as
    known at K: the funnel's join."""
    i, a = INTERVALS.c, ATTRIBUTES.c
    return (
        select(*columns)
        .select_from(INTERVALS.join(ATTRIBUTES, a.deal_id == i.deal_id))
        .where(
            holds_at(i.entered_at, i.exited_at, at),
            known(INTERVALS, known_at),
            holds_at(a.valid_from, a.valid_to, at),
            known(ATTRIBUTES, known_at),
        )
    )


def positions_at(
    conn: Connection, at: datetime, sliced: Sliced, scope: Scope | None = None
) -> list[tuple[Any, ...]]:
    """(policy, stage, currency, policy version, group, deals, amount units) per
    combination at T known at K, of the deals in ``scope`` (None: every deal)."""
    i, a = INTERVALS.c, ATTRIBUTES.c
    group = group_sql(ATTRIBUTES, sliced.by, sliced.banding)
    keys: list[Any] = [i.policy, i.stage, a.currency, i.policy_version]
    if group is not None:
        keys.append(group.label("grp"))
    query = deals_at(*keys, func.count(), func.sum(a.amount), at=at, known_at=sliced.known_at)
    query = query.group_by(*keys)
    if sliced.policy is not None:
        query = query.where(i.policy == sliced.policy)
    query = scoped(query, scope, i.deal_id)
    rows = []
    for r in conn.execute(query):
        grp = r[4] if group is not None else None
        deals, units = (r[5], r[6]) if group is not None else (r[4], r[5])
        rows.append((r[0], r[1], r[2], r[3], grp, int(deals), int(units or 0)))
    return rows


def funnel(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    *,
    as_of: datetime,
    scope: Scope | None = None,
    **slicing: Unpack[Slicing],
) -> list[FunnelReportRow]:
    """Every stage and outcome of each policy present, per currency (and group).
    ``scope``: only the deals a principal reaches (docs/access.md), by their current
    attributes; None counts every deal."""
    sliced = Sliced.of(policies, slicing)
    counts: dict[tuple[str, str, str, str | None], tuple[int, int, Decimal]] = {}
    if sliced.by is None and (scope is None or not scope.restricted):
        # Ungrouped: summed from the funnel points, without visiting each deal.
        found = [
            (name, stage, currency, version, None, deals, units)
            for (name, stage, currency, version), (deals, units) in funnel_sums(
                conn, as_of, sliced.known_at
            ).items()
            if sliced.policy is None or name == sliced.policy
        ]
    else:
        # Grouped, or scoped (the funnel points' sums are of every deal): deal by deal.
        found = positions_at(conn, as_of, sliced, scope)
    weigh = weights(conn, policies).weight
    for name, stage, currency, version, grp, deals, units in found:
        cur = currency or policies[name].currency
        key = (name, stage, cur, grp)
        before = counts.get(key, (0, 0, Decimal(0)))
        # Each version's share of the stage weighs with that version's probability.
        weighted = from_units(units) * weigh(name, version, stage)
        counts[key] = (before[0] + deals, before[1] + units, before[2] + weighted)
    rows: list[FunnelReportRow] = []
    for name, cur, grp in sliced.in_order((p, c, g) for p, _, c, g in counts):
        spec = policies[name]
        for stage in (*spec.stage_keys, *OUTCOMES):
            cell = counts.get((name, stage, cur, grp))
            if cell is None:  # an empty stage: 0 weighed as before (same decimal places)
                weight = Decimal(spec.probability(stage)) / 100
                cell = (0, 0, from_units(0) * weight)
            deals, units, weighted = cell
            rows.append(FunnelReportRow(name, stage, cur, deals, from_units(units), weighted, grp))
    return rows
