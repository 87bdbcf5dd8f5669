"""The shapes of the accounts' and the case review's answers (``accounts_api``,
``review_api``): the documents of ``salesengine account ... --json`` and
``salesengine review --json``, closed like every model of ``schemas``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field

from salesengine.service.schemas import Closed, DecimalText, KeyInfo, OverdueContact

Grade = Literal["A", "B", "C", "D"]
ContactRole = Literal["initiator", "decision_maker", "influencer", "end_user", "policy_maker"]


class Asked(Closed):
    as_of: datetime
    known_at: datetime | None
    earliest_recorded: datetime | None = Field(
        description="When the first deal or account event was recorded; null for none."
    )


# --- one account ------------------------------------------------------------------------


class AccountDeal(Closed):
    deal: str
    position: str = Field(description="Its stage while open, else its outcome.")
    open: bool
    owner: str | None
    team: str | None
    region: str | None
    amount: DecimalText | None
    currency: str | None
    expected_close: date | None
    opened_at: datetime
    grade: Grade | None = Field(description="Its grade at T, for an open deal.")
    policy: str | None


class Contact(Closed):
    contact: str
    name: str
    title: str | None
    role: ContactRole
    support: int = Field(ge=-2, le=2, description="-2 opponent .. +2 supporter.")
    support_name: str
    reports_to: str | None = Field(description="Their superior's contact key.")
    since: datetime
    left_at: datetime | None
    left_reason: str | None


class Activity(Closed):
    at: datetime
    kind: str
    effective: bool
    actor: str
    on: str = Field(description='"account", or the key of the deal it was logged on.')
    attendees: list[str]
    note: str | None


class AccountFields(Closed):
    account: str
    recorded: bool = Field(description="False: only named by deals (an implicit account).")
    name: str
    owner: str | None
    team: str | None
    region: str | None
    industry: str | None
    customer: Literal["new", "existing"] | None
    opened_at: datetime
    adopted_from: str | None
    buying_power: DecimalText | None
    bp_currency: str | None
    bp_at: datetime | None
    share_of_wallet: DecimalText | None
    sow_at: datetime | None
    rad: str | None = Field(description="The RAD cell, R1 .. A3; null without BP and SOW.")
    grade: Grade
    grade_source: Literal["set", "deals", "no_open_deals"]
    cadence_days: int
    last_contact: datetime | None
    days_since_contact: float | None
    in_cadence: bool


class AccountView(AccountFields):
    contacts: list[Contact]
    activities: list[Activity] = Field(description="The latest first.")
    deals: list[AccountDeal] = Field(description="The caller's deals naming the account.")


class AccountSummary(AccountFields):
    open_deals: int
    present_contacts: int


class AccountList(Asked):
    accounts: list[AccountSummary]


class AccountShow(Asked):
    account: AccountView


# --- the decision chain -----------------------------------------------------------------


class ChainNode(Closed):
    contact: Contact
    depth: int = Field(description="0 for someone who reports to no present contact.")


class DecisionChain(Closed):
    account: str
    as_of: datetime
    known_at: datetime | None
    nodes: list[ChainNode] = Field(description="Depth first, each superior before reports.")
    by_role: dict[str, list[str]]
    left: list[Contact]


class AccountChain(Asked):
    chain: DecisionChain


# --- the history ------------------------------------------------------------------------


class AccountEvent(Closed):
    version: int
    type: str
    effective_at: datetime
    recorded_at: datetime
    actor: str
    command_id: str | None
    after_t: bool = Field(description="Effective after T.")
    data: dict[str, object]


class AccountHistory(Closed):
    account: str
    as_of: datetime
    known_at: datetime | None
    events: list[AccountEvent]


# --- coverage (SOA) ---------------------------------------------------------------------


class CoverageRow(Closed):
    owner: str | None
    grade: Literal["A", "B", "C", "D", "all"]
    cadence_days: int
    accounts: int
    named_owner: int
    in_cadence: int
    covered: int
    never_contacted: int
    coverage: float | None


class UncoveredAccount(Closed):
    account: str
    owner: str | None
    grade: Grade
    last_contact: datetime | None
    days_since_contact: float | None
    cadence_days: int


class CoverageFigures(Closed):
    as_of: datetime
    known_at: datetime | None
    rows: list[CoverageRow]
    total: CoverageRow
    never_contacted: list[UncoveredAccount]
    overdue: list[UncoveredAccount]


class Coverage(Asked):
    coverage: CoverageFigures


# --- the case review --------------------------------------------------------------------


class ReviewPeriod(Closed):
    name: str
    start: datetime = Field(alias="from")
    to: datetime


class ReviewNextStep(Closed):
    action: str
    due: datetime
    owner: str


class ReviewDeal(Closed):
    deal: str
    policy: str
    stage: str
    grade: Grade
    owner: str | None
    team: str | None
    account: str | None
    amount: DecimalText | None
    currency: str | None
    expected_close: date | None
    stage_entered_at: datetime
    opened_at: datetime
    opened_by: str
    opened_in: str = Field(description="The stage it was opened in.")
    source: dict[str, str] | None = Field(description="An imported opening's provenance.")
    next_step: ReviewNextStep | None
    last_contact: datetime
    next_contact: datetime | None
    next_stage: str | None
    waiting_on: list[str] = Field(description="The next stage's entry criteria not met at T.")
    key_info: list[KeyInfo]
    expected: list[str] = Field(description="The key information expected at its stage.")
    missing: list[str]
    unevidenced: list[str]


class ReviewGrade(Closed):
    grade: Grade
    total: int
    sampled: bool
    deals: list[ReviewDeal]


class ReviewNewDeal(Closed):
    deal: str
    policy: str
    opened_at: datetime
    owner: str | None
    team: str | None


class ReviewAccounts(Closed):
    per_grade: dict[str, int]
    new_accounts: int


class Review(Closed):
    as_of: datetime
    known_at: datetime | None
    owner: str | None
    team: str | None
    period: ReviewPeriod
    seed: str
    sample: int
    grades: list[ReviewGrade]
    overdue_contacts: list[OverdueContact]
    new_deals: list[ReviewNewDeal]
    new_deals_total: int
    accounts: ReviewAccounts | None
    earliest_recorded: datetime | None
