"""The shapes of the API's answers, as the OpenAPI document publishes them.

The reports build their documents once (reports/documents.py) and the service answers
them as they are; these models describe those documents for clients and for the fuzz
test, which checks every answer against them. They are closed (no other keys), so a
document that gains or loses a key fails the test until its model says so too.

A report grouped ``by`` a dimension names each row's group after it (``"owner": "ana"``);
the ``Grouped`` fields are those names, present only when the report is grouped."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from salesengine.access.roles import Role

DecimalText = Annotated[
    str,
    Field(
        pattern=r"^-?[0-9]+(\.[0-9]+)?$",
        description="An exact decimal number as text (amounts are never rounded to a float).",
        examples=["2500.00"],
    ),
]
Grouping = Literal["owner", "team", "region", "policy", "size"]
DealStatus = Literal["open", "won", "lost", "abandoned"]


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Grouped(Closed):
    """The group of a row of a grouped report, under the grouping's name."""

    owner: str | None = None
    team: str | None = None
    region: str | None = None
    size: str | None = Field(default=None, description="The size band's label.")


class GroupedByPolicy(Grouped):
    policy: str | None = None


# --- /me, /status, /policies ---------------------------------------------------------


class Me(Closed):
    name: str
    role: Role
    scope: str = Field(description="The deals the principal reaches, in words.")
    actions: list[str] = Field(description="What the role may do (docs/access.md).")


class ReadModelStatus(Closed):
    name: str
    position: int
    behind: int


class Status(Closed):
    log_position: int = Field(description="The last event stored.")
    behind: int = Field(description="The most events any read model has yet to apply.")
    read_models: list[ReadModelStatus]


class Criterion(Closed):
    key: str
    description: str


class TimeRules(Closed):
    max_days: int | None
    next_step_required: bool


class Stage(Closed):
    key: str
    name: str
    name_zh: str
    probability: int = Field(ge=0, le=100)
    role: str
    criteria: list[Criterion]
    time_rules: TimeRules


class Outcome(Closed):
    key: Literal["won", "lost", "abandoned"]
    probability: int = Field(ge=0, le=100)


class Fallback(Closed):
    to: str
    reason: str


class GradeDays(Closed):
    """The highest days to the expected close of grades A, B and C (D: the rest)."""

    A: int
    B: int
    C: int


class ContactCadence(Closed):
    """Days a deal of each grade may go without a contact before it is overdue."""

    A: int
    B: int
    C: int
    D: int


class Policy(Closed):
    name: str
    version: str = Field(description="The fingerprint of this version of the policy.")
    title: str
    title_zh: str | None
    currency: str
    fallback: Fallback | None
    visit_target_per_week: int
    grade_days: GradeDays
    contact_cadence_days: ContactCadence
    effective_visit_kinds: list[str] | None = Field(
        description="The visit kinds that may count as effective (null: every kind)."
    )
    size_bands: list[DecimalText]
    stages: list[Stage]
    outcomes: list[Outcome]


class Policies(Closed):
    policies: list[Policy]


# --- /reports/funnel and /reports/compare ----------------------------------------------


class FunnelRow(Grouped):
    policy: str
    stage: str
    currency: str | None
    deals: int
    amount: DecimalText
    weighted: DecimalText


class Funnel(Closed):
    as_of: datetime
    known_at: datetime | None
    earliest_recorded: datetime | None = Field(description="When the store's first event was.")
    rows: list[FunnelRow]


class MoveRow(Grouped):
    """Deals and amounts per measure: the funnel at T (``start``) and T2 (``end``), and
    the moves in between (docs/metrics.md, "Moves between T and T2")."""

    policy: str
    stage: str
    currency: str | None
    start: int
    start_amount: DecimalText
    in_: int = Field(alias="in")
    in_amount: DecimalText
    out: int
    out_amount: DecimalText
    advanced: int
    advanced_amount: DecimalText
    regressed: int
    regressed_amount: DecimalText
    won: int
    won_amount: DecimalText
    lost: int
    lost_amount: DecimalText
    abandoned: int
    abandoned_amount: DecimalText
    end: int
    end_amount: DecimalText


class Compare(Closed):
    as_of: datetime
    compare: datetime
    known_at: datetime | None
    earliest_recorded: datetime | None
    rows: list[MoveRow]


# --- /reports/conversion and /reports/cycle-time ---------------------------------------


class ConversionRow(Grouped):
    policy: str
    stage: str
    cohort: int
    advanced: int
    lost: int
    open: int
    conversion: float | None = Field(description="advanced / cohort; null for no cohort.")
    drop_off: float | None = Field(description="lost / cohort; null for no cohort.")


class Window(Closed):
    start: datetime = Field(alias="from")
    to: datetime
    known_at: datetime | None
    earliest_recorded: datetime | None


class Conversion(Window):
    rows: list[ConversionRow]


class CycleTimeRow(Grouped):
    policy: str
    stage: str = Field(description="A stage key, or won: days from opening to won.")
    count: int
    mean_days: float | None
    median_days: float | None
    p90_days: float | None


class CycleTime(Window):
    rows: list[CycleTimeRow]


# --- /reports/forecast and /reports/health ----------------------------------------------


class OpenDealsAsked(Closed):
    as_of: datetime
    known_at: datetime | None
    policy: str | None
    by: Grouping | None
    owner: str | None
    team: str | None


class PipelineRow(Grouped):
    policy: str
    currency: str | None
    deals: int
    amount: DecimalText
    weighted: DecimalText


class WeekRow(GroupedByPolicy):
    week: str = Field(description="The ISO week, e.g. 2026-W11.")
    starts: date
    currency: str | None
    deals: int
    amount: DecimalText
    weighted: DecimalText


class OutsideRow(GroupedByPolicy):
    bucket: str = Field(description="Where deals closing outside the four weeks go.")
    currency: str | None
    deals: int
    amount: DecimalText
    weighted: DecimalText


class Forecast(OpenDealsAsked):
    weighted_pipeline: list[PipelineRow]
    weeks: list[WeekRow]
    outside: list[OutsideRow]
    earliest_recorded: datetime | None


class GradeRow(GroupedByPolicy):
    grade: str
    currency: str | None
    deals: int
    amount: DecimalText


class SummaryRow(GroupedByPolicy):
    """One group's counts (each owner's when the report is not grouped)."""

    open: int
    stale: int
    no_next_step: int
    next_step_overdue: int
    over_stage_limit: int
    overdue_contacts: int


class StaleDeal(Grouped):
    deal: str
    policy: str
    owner: str | None
    stage: str
    reasons: list[str]
    days_in_stage: float
    next_due: datetime | None


class OverdueContact(Grouped):
    deal: str
    policy: str
    owner: str | None
    stage: str
    grade: str
    last_contact: datetime
    days_since: float
    cadence_days: int


class VisitWeek(Closed):
    rep: str
    week: str
    starts: date
    visits: int
    effective: int
    target: int
    met: bool
    partial: bool


class Health(OpenDealsAsked):
    grades: list[GradeRow]
    summary: list[SummaryRow]
    stale: list[StaleDeal] = Field(description="At most limit of them.")
    stale_total: int
    overdue_contacts: list[OverdueContact] = Field(description="At most limit of them.")
    overdue_contacts_total: int
    visits: list[VisitWeek]
    earliest_recorded: datetime | None


# --- /deals ------------------------------------------------------------------------------


# --- /reports/plan ---------------------------------------------------------------------


class PlanPeriod(Closed):
    name: str
    start: datetime = Field(alias="from")
    to: datetime


class PlanPrevious(PlanPeriod):
    in_progress: bool = Field(description="The period planned from had not ended at T.")


class PlanRow(Closed):
    stage: str = Field(description="A stage key, or won.")
    cohort: int | None
    conversion: float | None
    win_rate: float | None
    needed: int | None = Field(description="The ideal funnel: deals the stage must hold.")
    deals: int
    amount: DecimalText
    gap: int | None
    mean_days: float | None
    latest_entry: datetime | None


class Plan(Closed):
    policy: str
    currency: str
    target: DecimalText
    as_of: datetime
    known_at: datetime | None
    period: PlanPeriod
    previous: PlanPrevious
    won_deals: int
    average_won: DecimalText | None
    rows: list[PlanRow]
    problems: list[str]
    earliest_recorded: datetime | None


# --- /deals ----------------------------------------------------------------------------


class DealListItem(Closed):
    key: str
    policy: str
    stage: str = Field(description="The stage while open, else the outcome.")
    status: DealStatus
    owner: str | None
    team: str | None
    region: str | None
    account: str | None
    amount: DecimalText | None
    currency: str | None
    expected_close: date | None
    stage_entered_at: datetime


class DealPage(Closed):
    as_of: datetime | None
    known_at: datetime | None
    items: list[DealListItem]
    next_cursor: str | None = Field(description="Ask with cursor=this for the next page.")


class NextStep(Closed):
    action: str
    due: datetime
    owner: str
    set_at: datetime


class KeyInfo(Closed):
    topic: Literal["schedule", "budget", "requirement", "decision", "competition", "evaluation"]
    details: dict[str, str | list[str]]
    evidence: str | None
    actor: str = Field(description="Who recorded it.")
    effective_at: datetime
    recorded_at: datetime


class DealState(Closed):
    deal: str
    policy: str
    policy_version: str
    status: Literal["new", "open", "won", "lost", "abandoned"]
    stage: str
    opened_at: datetime | None
    stage_entered_at: datetime | None
    facts: dict[str, bool | int | float | str]
    amount: DecimalText | None
    currency: str | None
    expected_close: date | None
    account: str | None
    owner: str | None
    team: str | None
    region: str | None
    next_step: NextStep | None
    visits: int
    effective_visits: int
    last_visit_at: datetime | None
    outcome_reason: str | None
    competitor: str | None
    closed_at: datetime | None
    key_info: dict[str, KeyInfo] = Field(
        description="The case review's key information by topic (docs/review.md)."
    )


class Deal(DealState):
    version: int = Field(description="The deal's version: expect it in a command's version.")


class HistoryEntry(Closed):
    version: int
    position: int | None = Field(description="The event's place in the store's log.")
    type: str
    effective_at: datetime
    recorded_at: datetime
    actor: str
    command_id: str | None
    provenance: dict[str, str] | None
    stage_before: str | None
    stage_after: str
    data: dict[str, object]
    entered_without: list[str]


class Nothing(Closed):
    """No deal yet: nothing about it was effective by T as known at K."""


class DealHistory(Closed):
    deal: str
    as_of: datetime
    known_at: datetime
    events: list[HistoryEntry]
    state: DealState | Nothing
    later_events: int = Field(description="Known at K but effective after T.")
    first_recorded: datetime | None
