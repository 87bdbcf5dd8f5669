""" "If no new prospects are added, in one sales cycle...": each rep's and team's open
funnel at T moved forward by Monte Carlo over the store's own stage exits
(docs/metrics.md, "Projection as of T").

The runs are drawn with numpy's generator from one seed, every run's deals at once (one
array of runs x deals), stage by stage; deals are in key order, so that the same store,
options and seed give the same figures on every database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection

from salesengine.access.principal import Scope
from salesengine.domain.policy import FunnelPolicy
from salesengine.projections.base import AMOUNT_SCALE, to_units, to_us
from salesengine.reports.portfolio_deals import (
    ALL,
    GroupKey,
    OpenDeal,
    Selection,
    group_keys,
    in_order,
    open_at,
)
from salesengine.reports.portfolio_exits import (
    DEFAULT_WINDOW_DAYS,
    DROPPED,
    WON,
    Model,
    StageExits,
    model,
)

OPEN, WON_CODE, LOST_CODE = 0, 1, 2
# Destination codes besides a stage's index: an outcome, or a stage the policy lacks.
TO_WON, TO_LOST, TO_ELSEWHERE = -1, -2, -3
MAX_MOVES = 100
DEFAULT_RUNS = 1000
DEFAULT_SEED = 7
DEFAULT_EMPTY_SHARE = 0.25
FIGURES = ("open", "won", "lost", "won_amount")
DAY_US = 86_400_000_000

Outcomes = npt.NDArray[np.int8]


@dataclass(frozen=True, slots=True)
class Band:
    """A figure over the runs: its mean and its 80% band [p10, p90]."""

    mean: float
    p10: float
    p90: float

    def holds(self, value: float) -> bool:
        return self.p10 <= value <= self.p90

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "p10": self.p10, "p90": self.p90}


def band(values: npt.NDArray[Any], scale: float = 1.0) -> Band:
    """Mean and the 10th and 90th percentiles (linear between the closest ranks)."""
    p10, p90 = np.percentile(values, [10, 90])
    return Band(float(np.mean(values)) / scale, float(p10) / scale, float(p90) / scale)


@dataclass(frozen=True, slots=True)
class ProjectedGroup:
    group: GroupKey
    open_now: int
    amount_now: Decimal
    bands: Mapping[str, Band]  # per figure
    empties: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.group.as_dict(),
            "open_now": self.open_now,
            "amount_now": self.amount_now,
            **{f: self.bands[f].as_dict() for f in FIGURES},
            "empties": self.empties,
        }


@dataclass(frozen=True, slots=True)
class Projection:
    policy: str
    currency: str
    as_of: datetime
    known_at: datetime | None
    horizon_days: float
    horizon_given: bool  # --horizon, rather than the window's sales cycle
    runs: int
    seed: int
    empty_share: float
    model: Model
    groups: tuple[ProjectedGroup, ...]
    deals: tuple[OpenDeal, ...]  # the deals projected, in key order

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "currency": self.currency,
            "as_of": self.as_of,
            "known_at": self.known_at,
            "horizon_days": self.horizon_days,
            "horizon": "given" if self.horizon_given else "sales cycle",
            "runs": self.runs,
            "seed": self.seed,
            "empty_share": self.empty_share,
            "window": self.model.as_dict(),
            "groups": [g.as_dict() for g in self.groups],
        }


def simulate(
    exits: Mapping[str, StageExits],
    deals: Sequence[tuple[str, float]],
    horizon: float,
    runs: int,
    seed: int,
) -> Outcomes:
    """Each run's outcome (OPEN, WON_CODE, LOST_CODE) of each deal, given as (its stage,
    its days in that stage at T), after ``horizon`` days: an array of runs x deals."""
    if runs < 1:
        raise ValueError("at least one run")
    rng = np.random.default_rng(seed)
    names = list(exits)
    code = {name: k for k, name in enumerate(names)}
    tables = []
    for name in names:
        e = exits[name]
        codes = [
            TO_WON if d == WON else TO_LOST if d in DROPPED else code.get(d, TO_ELSEWHERE)
            for d in e.destinations
        ]
        tables.append(
            (
                np.array(e.days, dtype=float),
                np.array(e.survival, dtype=float),
                np.array(codes, dtype=np.int64),
            )
        )
    n = len(deals)
    size = runs * n
    stage = np.tile(np.array([code.get(s, -1) for s, _ in deals], dtype=np.int64), runs)
    age = np.tile(np.array([a for _, a in deals], dtype=float), runs)
    clock = np.zeros(size)
    outcome = np.full(size, OPEN, dtype=np.int8)
    active = stage >= 0  # a stage the policy lacks holds its deals
    for _ in range(MAX_MOVES):
        if not active.any():
            break
        current, live = stage.copy(), active.copy()
        for k, (days, survival, dest) in enumerate(tables):
            where = np.flatnonzero(live & (current == k))
            if where.size == 0:
                continue
            if days.size == 0:  # nothing was seen to leave: its deals stay
                active[where] = False
                continue
            a = age[where]
            seen = np.searchsorted(days, a, side="right")  # exits of at most a days
            surv_a = np.where(seen == 0, 1.0, survival[np.maximum(seen - 1, 0)])
            target = rng.random(where.size) * surv_a
            # The first exit whose survival is at most the target (survival falls).
            j = np.searchsorted(-survival, -target, side="left")
            jj = np.minimum(j, days.size - 1)
            at = clock[where] + (days[jj] - a)
            leaves = (j < days.size) & (surv_a > 0) & (at <= horizon)
            active[where[~leaves]] = False
            go, to, when = where[leaves], dest[jj[leaves]], at[leaves]
            clock[go] = when
            outcome[go[to == TO_WON]] = WON_CODE
            outcome[go[to == TO_LOST]] = LOST_CODE
            active[go[to < 0]] = False
            moved = to >= 0
            stage[go[moved]] = to[moved]
            age[go[moved]] = 0.0
    return outcome.reshape(runs, n)


def figures_per_group(
    outcomes: Outcomes, deals: Sequence[OpenDeal], groups: Sequence[GroupKey]
) -> dict[GroupKey, dict[str, npt.NDArray[np.int64]]]:
    """Per group and figure, each run's value (``won_amount`` in amount units)."""
    member = np.zeros((len(deals), len(groups)), dtype=np.int64)
    index = {g: n for n, g in enumerate(groups)}
    for d, deal in enumerate(deals):
        for g in group_keys(deal.owner, deal.team):
            member[d, index[g]] = 1
    units = np.array([to_units(d.amount) for d in deals], dtype=np.int64)
    per = {
        "open": (outcomes == OPEN).astype(np.int64) @ member,
        "won": (outcomes == WON_CODE).astype(np.int64) @ member,
        "lost": (outcomes == LOST_CODE).astype(np.int64) @ member,
        "won_amount": ((outcomes == WON_CODE) * units) @ member,
    }
    return {g: {f: per[f][:, n] for f in FIGURES} for g, n in index.items()}


def project(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    chosen: Selection,
    *,
    as_of: datetime,
    known_at: datetime | None = None,
    window_days: float = DEFAULT_WINDOW_DAYS,
    horizon_days: float | None = None,
    runs: int = DEFAULT_RUNS,
    seed: int = DEFAULT_SEED,
    empty_share: float = DEFAULT_EMPTY_SHARE,
    scope: Scope | None = None,
) -> Projection:
    """The projection per rep, team and all. ``scope``: only the deals a principal
    reaches (docs/access.md); None: every deal. ValueError when there is no sales cycle
    to project over and no ``horizon_days``."""
    if chosen.policy not in policies:
        raise ValueError(f"no policy '{chosen.policy}'")
    if horizon_days is not None and not horizon_days > 0:
        raise ValueError("the horizon must be a positive number of days")
    fitted = model(
        conn,
        policies,
        policy=chosen.policy,
        as_of=as_of,
        window_days=window_days,
        known_at=known_at,
        scope=scope,
    )
    horizon = horizon_days if horizon_days is not None else fitted.sales_cycle
    if horizon is None:
        raise ValueError(
            f"no {chosen.policy} deal was won in [{fitted.start.isoformat()}, "
            f"{as_of.isoformat()}): no sales cycle to project over; give a horizon in days"
        )
    deals = open_at(conn, policies, chosen, at=as_of, known_at=known_at, scope=scope)
    t = to_us(as_of)
    outcomes = simulate(
        {s.stage: s for s in fitted.stages},
        [(d.stage, (t - d.entered_us) / DAY_US) for d in deals],
        horizon,
        runs,
        seed,
    )
    keys = in_order([g for d in deals for g in group_keys(d.owner, d.team)] + [ALL])
    per = figures_per_group(outcomes, deals, keys)
    groups = []
    for g in keys:
        members = [d for d in deals if g in group_keys(d.owner, d.team)]
        bands = {f: band(per[g][f], AMOUNT_SCALE if f == "won_amount" else 1.0) for f in FIGURES}
        now = len(members)
        groups.append(
            ProjectedGroup(
                group=g,
                open_now=now,
                amount_now=sum((d.amount for d in members), Decimal(0)),
                bands=bands,
                empties=now > 0 and bands["open"].p90 <= empty_share * now,
            )
        )
    return Projection(
        policy=chosen.policy,
        currency=chosen.currency_of(policies),
        as_of=as_of,
        known_at=known_at,
        horizon_days=horizon,
        horizon_given=horizon_days is not None,
        runs=runs,
        seed=seed,
        empty_share=empty_share,
        model=fitted,
        groups=tuple(groups),
        deals=tuple(deals),
    )
