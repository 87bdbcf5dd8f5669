"""The shapes of the quota answers: the quotas, the V value and the plan per rep or
team, as the command line's ``--json`` gives them (see schemas.py for why they are
closed models)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from salesengine.service.schemas import Closed, DecimalText, PlanPeriod, PlanPrevious, PlanRow

SubjectKind = Literal["rep", "team"]
QuotaSource = Literal["own", "reps", "none"]


class QuotaRow(Closed):
    """One period's quota of a subject-year, as it stands at T known at K."""

    kind: SubjectKind
    subject: str
    year: int
    currency: str | None
    team: str | None = Field(description="A rep's quota: the team it adds up to.")
    period: str
    amount: DecimalText
    effective_at: datetime
    recorded_at: datetime
    actor: str
    set_by: str = Field(description="The period whose quota set it: itself, or its whole.")


class QuotaYear(Closed):
    year: int
    as_of: datetime
    known_at: datetime | None
    quotas: list[QuotaRow]


class QuotaFigure(Closed):
    """A subject's quota for the period: its own, or a team's summed from its reps'."""

    kind: SubjectKind
    subject: str
    period: str
    currency: str | None
    amount: DecimalText | None = Field(description="Null: no quota for the period.")
    source: QuotaSource
    reps: list[str] = Field(description="The reps summed, for a team's quota from its reps.")
    problem: str | None


class QuotaPeriodFigures(Closed):
    period: str
    as_of: datetime
    known_at: datetime | None
    quotas: list[QuotaFigure]


class VRow(Closed):
    kind: SubjectKind
    subject: str | None = Field(description="Null: the deals without an owner (team).")
    currency: str | None
    quota: DecimalText | None
    quota_source: QuotaSource
    won: DecimalText
    won_deals: int
    remaining_quota: DecimalText | None = Field(description="max(quota - won, 0).")
    pipeline: DecimalText = Field(description="Weighted open deals due by the period's end.")
    pipeline_deals: int
    undated: int = Field(description="Open deals left out: no expected close.")
    later: int = Field(description="Open deals left out: expected after the period.")
    v: DecimalText | None = Field(
        description="pipeline / remaining_quota; 1 means the pipeline covers what is left."
    )
    met: bool


class VValue(Closed):
    period: PlanPeriod
    as_of: datetime
    known_at: datetime | None
    rows: list[VRow]
    problems: list[str]
    earliest_recorded: datetime | None


class WonTowardQuota(Closed):
    deals: int
    amount: DecimalText


class SubjectPlan(Closed):
    subject: str | None
    target_from: Literal["given", "remaining quota", "none"]
    quota: DecimalText | None = Field(description="The quota planned against; null: none.")
    won_toward_quota: WonTowardQuota | None = Field(
        description="The period's wins the quota was reduced by (the won row needs these)."
    )
    policy: str
    currency: str
    target: DecimalText | None
    as_of: datetime
    known_at: datetime | None
    period: PlanPeriod
    previous: PlanPrevious
    won_deals: int
    average_won: DecimalText | None
    rows: list[PlanRow]
    problems: list[str]


class PlanPer(Closed):
    per: SubjectKind
    ideal_from: Literal["own", "team"]
    policy: str
    currency: str
    target: DecimalText | None = Field(description="The target given; null: remaining quotas.")
    period: PlanPeriod
    as_of: datetime
    known_at: datetime | None
    plans: list[SubjectPlan]
    earliest_recorded: datetime | None
