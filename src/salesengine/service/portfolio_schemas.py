"""The shapes of the portfolio and anomalies answers, as the command line's ``--json``
gives them (see schemas.py for why they are closed models)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from salesengine.service.schemas import Closed, DecimalText, PlanPeriod, PlanPrevious

Level = Literal["rep", "team", "all"]


class Group(Closed):
    level: Level
    name: str | None = Field(description="Null: deals without one; always null for all.")


class ShapeStage(Closed):
    stage: str
    deals: int
    amount: DecimalText
    least: int | None = Field(description="The fewest deals the pyramid asks of the stage.")
    basis: Literal["conversion", "plain"] | None
    pyramid: bool


class NewDeals(Closed):
    period: str
    deals: int
    amount: DecimalText


class ShapeGroup(Group):
    open: int
    pyramid: bool
    not_pyramid: list[str]
    stages: list[ShapeStage]
    new: list[NewDeals]


class NewPeriod(PlanPeriod):
    partial: bool = Field(description="The period holds T: counted up to T.")


class Shape(Closed):
    policy: str
    currency: str
    as_of: datetime
    known_at: datetime | None
    period: PlanPeriod
    conversion_from: PlanPeriod
    conversions: dict[str, float | None]
    periods: list[NewPeriod]
    groups: list[ShapeGroup]
    earliest_recorded: datetime | None


class Band(Closed):
    """A figure over the runs: its mean and its 80% band [p10, p90]."""

    mean: float
    p10: float
    p90: float


class ProjectedGroup(Group):
    open_now: int
    amount_now: DecimalText
    open: Band
    won: Band
    lost: Band
    won_amount: Band
    empties: bool


class StageExits(Closed):
    stage: str
    observed: int
    exits: int
    advanced: float
    dropped: float
    regressed: float
    stays: float


class ExitWindow(Closed):
    start: datetime = Field(alias="from")
    to: datetime
    sales_cycle_days: float | None
    won_in_window: int
    stages: list[StageExits]


class Projection(Closed):
    policy: str
    currency: str
    as_of: datetime
    known_at: datetime | None
    horizon_days: float
    horizon: Literal["given", "sales cycle"]
    runs: int
    seed: int
    empty_share: float
    window: ExitWindow
    groups: list[ProjectedGroup]
    earliest_recorded: datetime | None


class RepStage(Closed):
    stage: str
    needed: int | None
    deals: int
    amount: DecimalText
    gap: int | None


class RepEvaluation(Closed):
    rep: str | None
    target: DecimalText | None
    target_from: str | None
    fill: float | None = Field(description="The mean share of each stage's ideal held.")
    short: int | None
    stages: list[RepStage]


class Reps(Closed):
    policy: str
    currency: str
    as_of: datetime
    known_at: datetime | None
    period: PlanPeriod
    previous: PlanPrevious
    average_won: DecimalText | None
    win_rates: dict[str, float | None]
    problems: list[str]
    reps: list[RepEvaluation]
    notes: list[str] = Field(
        description="Why a rep's quota could not be their target (another currency, a "
        "period quotas are not set for)."
    )
    earliest_recorded: datetime | None


AnomalyKind = Literal[
    "criteria_lapsed",
    "probability_jump",
    "backdated",
    "over_stage_limit",
    "no_next_step",
    "next_step_overdue",
]


class Anomaly(Closed):
    kind: AnomalyKind
    deal: str
    policy: str
    owner: str | None
    team: str | None
    position: str = Field(description="The deal's stage at T, or its outcome.")
    since: datetime
    evidence: dict[str, object] = Field(description="What shows it (docs/metrics.md).")


class BackdatedAfter(Closed):
    days: DecimalText
    per_kind: dict[str, DecimalText]


class Anomalies(Closed):
    as_of: datetime
    known_at: datetime | None
    policy: str | None
    owner: str | None
    team: str | None
    backdated_after: BackdatedAfter
    counts: dict[AnomalyKind, int]
    backdated_events: dict[str, int]
    rows: list[Anomaly]
    earliest_recorded: datetime | None
