"""The funnel as of T (known at K), by replaying each deal's events.

This follows METRICS.md literally, deal by deal. It is the reference the read models
are checked against, and what the demo prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from salesengine.domain.policy import FunnelPolicy
from salesengine.domain.state import DealState
from salesengine.domain.values import OUTCOMES, Status


@dataclass(frozen=True, slots=True)
class ReplayedFunnelRow:
    """One stage (or outcome) of one policy and currency in the funnel computed by
    replaying each deal's events; the reports' own row is ``FunnelReportRow``."""

    policy: str
    stage: str
    currency: str  # amounts in different currencies are never added together
    deals: int
    amount: Decimal
    weighted: Decimal


class Replayable(Protocol):
    """A deal that can say how it stood at T as known at K: ``DealEvents`` (what the
    engine returns) or the aggregate itself."""

    def state_at(self, at: datetime, known_at: datetime | None = None) -> DealState: ...


def funnel_by_replay(
    deals: Iterable[Replayable],
    policies: dict[str, FunnelPolicy],
    as_of: datetime,
    known_at: datetime | None = None,
    versions: Mapping[tuple[str, str], FunnelPolicy] | None = None,
) -> list[ReplayedFunnelRow]:
    """``versions``: the policy versions by (name, fingerprint); a deal weighs with the
    one its position was entered under, else (not given) with ``policies``'."""
    counts: dict[tuple[str, str, str], list[Decimal]] = {}
    for deal in deals:
        state = deal.state_at(as_of, known_at)
        if state.status is Status.NEW:  # opened after T, or not yet known at K
            continue
        policy = policies[state.policy]
        entered_under = (versions or {}).get((state.policy, state.policy_version), policy)
        amount = state.amount or Decimal(0)
        weight = Decimal(entered_under.probability(state.position)) / 100
        key = (state.policy, state.position, state.currency or policy.currency)
        row = counts.setdefault(key, [Decimal(0), Decimal(0), Decimal(0)])
        row[0] += 1
        row[1] += amount
        row[2] += amount * weight
    rows: list[ReplayedFunnelRow] = []
    for name in sorted({p for p, _, _ in counts}):
        currencies = sorted({c for p, _, c in counts if p == name})
        for stage in (*policies[name].stage_keys, *OUTCOMES):
            for currency in currencies:
                n, amount, weighted = counts.get((name, stage, currency), [Decimal(0)] * 3)
                rows.append(ReplayedFunnelRow(name, stage, currency, int(n), amount, weighted))
    return rows
