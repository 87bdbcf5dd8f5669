"""The funnel as of T, known at K (docs/metrics.md, "Funnel as of T").

A deal counts if its opening is effective at or before T; its row is the stage (or
outcome) of the stage interval containing T, its amount the latest amount effective at
or before T, and its weighted amount that amount times the stage's probability under
the policy version that interval was entered under (reports/weights.py). Amounts in
different currencies are never added together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from salesengine.access.principal import Scope
from salesengine.access.scope_sql import in_scope
from salesengine.domain.policy import FunnelPolicy
from salesengine.domain.values import OUTCOMES
from salesengine.projections import deal_attributes, stage_intervals
from salesengine.projections.base import from_units
from salesengine.reports.common import group_order, group_sql, holds_at, known
from salesengine.reports.funnel_sums import funnel_sums
from salesengine.reports.size_bands import Banding
from salesengine.reports.weights import weights

INTERVALS = stage_intervals.table
ATTRIBUTES = deal_attributes.table


@dataclass(frozen=True, slots=True)
class FunnelRow:
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


def positions_at(
    conn: Connection,
    at: datetime,
    known_at: datetime | None,
    by: str | None = None,
    policy: str | None = None,
    banding: Banding | None = None,
    scope: Scope | None = None,
) -> list[tuple[Any, ...]]:
    """(policy, stage, currency, policy version, group, deals, amount units) per
    combination at T known at K, of the deals in ``scope`` (None: every deal)."""
    i, a = INTERVALS.c, ATTRIBUTES.c
    group = group_sql(ATTRIBUTES, by, banding)
    keys: list[Any] = [i.policy, i.stage, a.currency, i.policy_version]
    if group is not None:
        keys.append(group.label("grp"))
    query = (
        select(*keys, func.count(), func.sum(a.amount))
        .select_from(INTERVALS.join(ATTRIBUTES, a.deal_id == i.deal_id))
        .where(
            holds_at(i.entered_at, i.exited_at, at),
            known(INTERVALS, known_at),
            holds_at(a.valid_from, a.valid_to, at),
            known(ATTRIBUTES, known_at),
        )
        .group_by(*keys)
    )
    if policy is not None:
        query = query.where(i.policy == policy)
    if scope is not None and scope.restricted:
        query = query.where(in_scope(scope, i.deal_id))
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
    known_at: datetime | None = None,
    by: str | None = None,
    policy: str | None = None,
    size_bands: Sequence[Decimal] | None = None,
    scope: Scope | None = None,
) -> list[FunnelRow]:
    """Every stage and outcome of each policy present, per currency (and group).
    ``size_bands``: the band limits of ``--by size`` for every deal, instead of its
    policy's. ``scope``: only the deals a principal reaches (docs/access.md), by their
    current attributes; None counts every deal."""
    counts: dict[tuple[str, str, str, str | None], tuple[int, int, Decimal]] = {}
    banding = Banding(policies, size_bands)
    if by is None and (scope is None or not scope.restricted):
        # Ungrouped: summed from the funnel points, without visiting each deal.
        found = [
            (name, stage, currency, version, None, deals, units)
            for (name, stage, currency, version), (deals, units) in funnel_sums(
                conn, as_of, known_at
            ).items()
            if policy is None or name == policy
        ]
    else:
        # Grouped, or scoped (the funnel points' sums are of every deal): deal by deal.
        found = positions_at(conn, as_of, known_at, by, policy, banding, scope)
    weigh = weights(conn, policies).weight
    for name, stage, currency, version, grp, deals, units in found:
        cur = currency or policies[name].currency
        key = (name, stage, cur, grp)
        before = counts.get(key, (0, 0, Decimal(0)))
        # Each version's share of the stage weighs with that version's probability.
        weighted = from_units(units) * weigh(name, version, stage)
        counts[key] = (before[0] + deals, before[1] + units, before[2] + weighted)
    rows: list[FunnelRow] = []
    order = group_order(by, banding)
    slices = sorted({(p, c, g) for p, _, c, g in counts}, key=lambda k: (k[0], k[1], order(k[2])))
    for name, cur, grp in slices:
        spec = policies[name]
        for stage in (*spec.stage_keys, *OUTCOMES):
            cell = counts.get((name, stage, cur, grp))
            if cell is None:  # an empty stage: 0 weighed as before (same decimal places)
                weight = Decimal(spec.probability(stage)) / 100
                cell = (0, 0, from_units(0) * weight)
            deals, units, weighted = cell
            rows.append(FunnelRow(name, stage, cur, deals, from_units(units), weighted, grp))
    return rows
