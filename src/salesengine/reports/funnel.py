"""The funnel as of T, known at K (docs/metrics.md, "Funnel as of T").

A deal counts if its opening is effective at or before T; its row is the stage (or
outcome) of the stage interval containing T, its amount the latest amount effective at
or before T, and its weighted amount that amount times the stage's probability under
the deal's policy. Amounts in different currencies are never added together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from salesengine.domain.policy import FunnelPolicy
from salesengine.domain.values import OUTCOMES
from salesengine.projections import deal_attributes, stage_intervals
from salesengine.projections.base import from_units
from salesengine.reports.common import group_sql, holds_at, known
from salesengine.reports.funnel_sums import funnel_sums
from salesengine.reports.size_bands import Banding

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
) -> list[tuple[Any, ...]]:
    """(policy, stage, currency, group, deals, amount units) per combination at T known at K."""
    i, a = INTERVALS.c, ATTRIBUTES.c
    group = group_sql(ATTRIBUTES, by, banding)
    keys: list[Any] = [i.policy, i.stage, a.currency]
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
    rows = []
    for r in conn.execute(query):
        grp = r[3] if group is not None else None
        deals, units = (r[4], r[5]) if group is not None else (r[3], r[4])
        rows.append((r[0], r[1], r[2], grp, int(deals), int(units or 0)))
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
) -> list[FunnelRow]:
    """Every stage and outcome of each policy present, per currency (and group).
    ``size_bands``: the band limits of ``--by size`` for every deal, instead of its
    policy's."""
    counts: dict[tuple[str, str, str, str | None], tuple[int, int]] = {}
    if by is None:
        # Ungrouped: summed from the funnel points, without visiting each deal.
        found = [
            (name, stage, currency, None, deals, units)
            for (name, stage, currency), (deals, units) in funnel_sums(
                conn, as_of, known_at
            ).items()
            if policy is None or name == policy
        ]
    else:
        found = positions_at(conn, as_of, known_at, by, policy, Banding(policies, size_bands))
    for name, stage, currency, grp, deals, units in found:
        cur = currency or policies[name].currency
        key = (name, stage, cur, grp)
        before = counts.get(key, (0, 0))
        counts[key] = (before[0] + deals, before[1] + units)
    rows: list[FunnelRow] = []
    slices = sorted({(p, c, g) for p, _, c, g in counts}, key=lambda k: (k[0], k[1], _order(k[2])))
    for name, cur, grp in slices:
        spec = policies[name]
        for stage in (*spec.stage_keys, *OUTCOMES):
            deals, units = counts.get((name, stage, cur, grp), (0, 0))
            amount = from_units(units)
            weight = Decimal(spec.probability(stage)) / 100
            rows.append(FunnelRow(name, stage, cur, deals, amount, amount * weight, grp))
    return rows


def _order(value: str | None) -> tuple[bool, str]:
    return (value is None, value or "")
