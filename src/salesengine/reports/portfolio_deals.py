"""The deals a portfolio report reads (docs/metrics.md, "Portfolio"): one policy's deals
in one currency, by rep and team, kept to an owner and a team when asked.

Every part of the portfolio reads them at an instant (T for the open deals, the opening
for new deals, the win for won deals) and groups them by their owner and team then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, func

from salesengine.access.principal import Scope
from salesengine.domain.policy import FunnelPolicy
from salesengine.projections.base import from_units
from salesengine.reports.common import by_name
from salesengine.reports.funnel import ATTRIBUTES, INTERVALS
from salesengine.reports.open_deals import Only, open_deals

Level = Literal["rep", "team", "all"]
LEVELS: tuple[Level, ...] = ("rep", "team", "all")


@dataclass(frozen=True, slots=True)
class Selection:
    """Which deals: those of ``policy`` in ``currency`` (the policy's when None), and of
    ``only``'s owner and team where the figure reads them."""

    policy: str
    currency: str | None = None
    only: Only = field(default_factory=Only)

    def currency_of(self, policies: Mapping[str, FunnelPolicy]) -> str:
        return self.currency or policies[self.policy].currency

    def in_currency(self, policies: Mapping[str, FunnelPolicy]) -> ColumnElement[bool]:
        """The deal attributes' condition: the deal's currency (the policy's without one)."""
        spec = policies[self.policy]
        chosen = self.currency_of(policies)
        return func.coalesce(ATTRIBUTES.c.currency, spec.currency) == chosen


@dataclass(frozen=True, slots=True)
class GroupKey:
    """A row's group: a rep (owner), a team, or ``all`` the deals kept."""

    level: Level
    name: str | None  # None: deals without an owner (team); always None for ``all``

    @property
    def label(self) -> str:
        if self.level == "all":
            return "all"
        return self.name if self.name is not None else "(none)"

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "name": self.name}


ALL = GroupKey("all", None)


def group_keys(owner: str | None, team: str | None) -> tuple[GroupKey, GroupKey, GroupKey]:
    """The three groups a deal counts in: its rep, its team, and all."""
    return (GroupKey("rep", owner), GroupKey("team", team), ALL)


def in_order(keys: Iterable[GroupKey]) -> list[GroupKey]:
    """Reps, then teams, then all; each by name, the deals without a value last."""
    return sorted(set(keys), key=lambda g: (LEVELS.index(g.level), by_name(g.name)))


@dataclass(frozen=True, slots=True)
class OpenDeal:
    """An open deal at T, known at K."""

    deal_id: str
    key: str
    owner: str | None
    team: str | None
    stage: str
    entered_us: int  # when it entered its stage (microseconds since the epoch)
    amount: Decimal  # 0 without an amount


def open_at(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    chosen: Selection,
    *,
    at: datetime,
    known_at: datetime | None,
    scope: Scope | None = None,
) -> list[OpenDeal]:
    """The selection's open deals at T known at K, in key order (draws follow it)."""
    i, a = INTERVALS.c, ATTRIBUTES.c
    query = open_deals(
        i.deal_id,
        a.deal,
        a.owner,
        a.team,
        i.stage,
        i.entered_at,
        a.amount,
        at=at,
        known_at=known_at,
        policy=chosen.policy,
        only=chosen.only,
        scope=scope,
    ).where(chosen.in_currency(policies))
    found = [
        OpenDeal(str(r[0]), str(r[1]), r[2], r[3], str(r[4]), int(r[5]), from_units(int(r[6] or 0)))
        for r in conn.execute(query)
    ]
    return sorted(found, key=lambda d: d.key)
