"""The case review (案情追踪) as of T, known at K: the pack a manager reads in a weekly
one-to-one (docs/metrics.md, "Case review"; docs/review.md).

Which deals it lists comes from the read models (the open deals at T known at K, kept
to an owner or a team, graded as ``reports.health.grade``); what it says of each listed
deal comes from that deal's own events, folded as of T known at K (``DealEvents``,
loaded through ``load``): how it came, its key information and what is missing, its
next step and what its next stage still needs. Only the listed deals are loaded: every
A and B deal and a seeded sample of the C and D deals, so a review costs one read of
the store per listed deal on top of the read models' queries.

The account figures (accounts per grade, new accounts) belong to the accounts' own
module: ``review`` takes them as ``account_figures``, a function the caller wires; the
review says they are not available without it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from salesengine.access.principal import Scope
from salesengine.access.scope_sql import scoped
from salesengine.application.json_form import grouped_json, jsonable
from salesengine.application.results import DealEvents
from salesengine.domain.deal import Deal
from salesengine.domain.guard import StageGuard
from salesengine.domain.key_info import TOPICS, KeyInfo, expected_topics
from salesengine.domain.policy import FunnelPolicy
from salesengine.domain.state import DealState
from salesengine.domain.values import Status
from salesengine.projections.base import from_us, to_us
from salesengine.reports.common import holds_at, known
from salesengine.reports.funnel import ATTRIBUTES, INTERVALS
from salesengine.reports.health import GRADES, OverdueContact, grade, health
from salesengine.reports.open_deals import Only, open_deals
from salesengine.reports.periods import Period, parse_period

DEFAULT_SAMPLE = 3  # C and D deals sampled, per grade
PERIODS: tuple[str, ...] = ("week", "month", "quarter")
# The grades listed in full; the others are sampled.
IN_FULL: tuple[str, ...] = ("A", "B")

# A deal's events by its key (``SalesEngine.deal_events``).
DealLoader = Callable[[str], DealEvents]


@dataclass(frozen=True, slots=True)
class AccountFigures:
    """The prospecting figures of the accounts (docs/metrics.md, "Case review")."""

    per_grade: Mapping[str, int]
    new_accounts: int


# The accounts' figures for a review: the read models' connection, T, K, the owner or
# team kept, and the review's period. Wired by the caller where accounts exist.
AccountFiguresSource = Callable[
    [Connection, datetime, datetime | None, Only, Period], AccountFigures
]


@dataclass(frozen=True, slots=True)
class ReviewNextStep:
    action: str
    due: datetime
    owner: str


@dataclass(frozen=True, slots=True)
class ReviewDeal:
    """One listed deal as it stood at T, as known at K."""

    deal: str
    policy: str
    stage: str
    grade: str
    owner: str | None
    team: str | None
    account: str | None
    amount: Decimal | None
    currency: str | None
    expected_close: date | None
    stage_entered_at: datetime
    # How the deal came: its opening's effective time, writer, first stage and source
    # (the provenance of an imported opening; None for one recorded directly).
    opened_at: datetime
    opened_by: str
    opened_in: str
    source: dict[str, str] | None
    next_step: ReviewNextStep | None
    last_contact: datetime  # the later of the opening and the last visit
    next_contact: datetime | None  # the open next step's due
    next_stage: str | None  # None at the policy's last stage
    waiting_on: tuple[str, ...]  # the next stage's entry criteria not met at T
    key_info: tuple[KeyInfo, ...]
    expected: tuple[str, ...]  # the topics a deal at its stage should hold
    missing: tuple[str, ...]  # expected, not held
    unevidenced: tuple[str, ...]  # held without evidence

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for f in fields(self):
            name, value = f.name, getattr(self, f.name)
            if name == "key_info":
                value = [info.as_dict() for info in value]
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, ReviewNextStep):
                value = {"action": value.action, "due": value.due, "owner": value.owner}
            found[name] = value
        return found


@dataclass(frozen=True, slots=True)
class GradeList:
    """The open deals of one grade: all of them (A, B), or a sample (C, D)."""

    grade: str
    total: int  # the grade's open deals
    sampled: bool
    deals: list[ReviewDeal]


@dataclass(frozen=True, slots=True)
class NewDeal:
    deal: str
    policy: str
    opened_at: datetime
    owner: str | None
    team: str | None


@dataclass(frozen=True, slots=True)
class Review:
    as_of: datetime
    known_at: datetime | None
    only: Only
    period: Period
    seed: str
    sample: int
    grades: list[GradeList] = field(default_factory=list)
    overdue_contacts: list[OverdueContact] = field(default_factory=list)
    new_deals: list[NewDeal] = field(default_factory=list)
    accounts: AccountFigures | None = None  # None: no account figures were wired

    def grade(self, name: str) -> GradeList:
        return next(g for g in self.grades if g.grade == name)


def review_period(unit: str, at: datetime) -> Period:
    """The calendar week, month or quarter (UTC) that holds T."""
    day = at.astimezone(UTC).date()
    if unit == "week":
        iso = day.isocalendar()
        return parse_period(f"{iso.year:04d}-W{iso.week:02d}")
    if unit == "month":
        return parse_period(f"{day.year:04d}-{day.month:02d}")
    if unit == "quarter":
        return parse_period(f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}")
    raise ValueError(f"{unit!r} is not a review period (one of {', '.join(PERIODS)})")


def default_seed(at: datetime) -> str:
    """The sample's seed when none is given: T's ISO week (UTC), so a week's reruns draw
    the same deals and the next week's draw others."""
    iso = at.astimezone(UTC).date().isocalendar()
    return f"{iso.year:04d}-W{iso.week:02d}"


def sample_keys(keys: Sequence[str], size: int, seed: str, grade_name: str) -> list[str]:
    """``size`` of the keys (all when fewer), drawn by ``random.Random`` seeded with the
    text ``SEED/GRADE`` from the keys in code-point order; returned in that order."""
    population = sorted(keys)
    if size >= len(population):
        return population
    drawn = random.Random(f"{seed}/{grade_name}").sample(population, size)
    return sorted(drawn)


def review(
    conn: Connection,
    policies: Mapping[str, FunnelPolicy],
    load: DealLoader,
    *,
    as_of: datetime,
    known_at: datetime | None = None,
    only: Only | None = None,
    period: str = "week",
    sample: int = DEFAULT_SAMPLE,
    seed: str | None = None,
    scope: Scope | None = None,
    account_figures: AccountFiguresSource | None = None,
) -> Review:
    """The review pack of the open deals ``only`` keeps (owner, team; everyone by
    default) and ``scope`` reaches, as of T known at K."""
    if sample < 0:
        raise ValueError("the sample size must be 0 or more")
    only = only or Only()
    chosen = review_period(period, as_of)
    drawn_with = default_seed(as_of) if seed is None else seed
    by_grade: dict[str, list[str]] = {g: [] for g in GRADES}
    a = ATTRIBUTES.c
    query = open_deals(
        a.deal,
        a.expected_close,
        INTERVALS.c.policy,
        at=as_of,
        known_at=known_at,
        only=only,
        scope=scope,
    )
    for key, close, policy in conn.execute(query):
        day = None if close is None else date.fromisoformat(close)
        by_grade[grade(day, as_of, policies.get(policy))].append(key)
    guards: dict[str, StageGuard] = {}
    lists = []
    for g in GRADES:
        keys = by_grade[g]
        listed = sorted(keys) if g in IN_FULL else sample_keys(keys, sample, drawn_with, g)
        deals = [_review_deal(load(key), g, policies, guards, as_of, known_at) for key in listed]
        deals.sort(key=lambda d: (d.expected_close or date.max, d.deal))
        lists.append(GradeList(g, len(keys), g not in IN_FULL, deals))
    contacts = health(conn, policies, as_of=as_of, known_at=known_at, only=only, scope=scope)
    return Review(
        as_of=as_of,
        known_at=known_at,
        only=only,
        period=chosen,
        seed=drawn_with,
        sample=sample,
        grades=lists,
        overdue_contacts=contacts.overdue_contacts,
        new_deals=new_deals(conn, chosen, as_of, known_at, only, scope),
        accounts=None
        if account_figures is None
        else account_figures(conn, as_of, known_at, only, chosen),
    )


def new_deals(
    conn: Connection,
    period: Period,
    as_of: datetime,
    known_at: datetime | None,
    only: Only,
    scope: Scope | None = None,
) -> list[NewDeal]:
    """Deals whose opening is effective in [period start, T] (T included), as known at
    K, whose owner and team at T ``only`` keeps; in opening order."""
    a, i = ATTRIBUTES.c, INTERVALS.c
    query = (
        select(a.deal, i.policy, i.entered_at, a.owner, a.team)
        .select_from(INTERVALS.join(ATTRIBUTES, a.deal_id == i.deal_id))
        .where(
            i.via == "opened",
            known(INTERVALS, known_at),
            i.entered_at >= to_us(period.start),
            i.entered_at <= to_us(as_of),
            holds_at(a.valid_from, a.valid_to, as_of),
            known(ATTRIBUTES, known_at),
        )
    )
    query = only.where(scoped(query, scope, i.deal_id))
    rows = [
        NewDeal(r.deal, r.policy, from_us(int(r.entered_at)), r.owner, r.team)
        for r in conn.execute(query)
    ]
    return sorted(rows, key=lambda n: (n.opened_at, n.deal))


def _review_deal(
    events: DealEvents,
    grade_name: str,
    policies: Mapping[str, FunnelPolicy],
    guards: dict[str, StageGuard],
    at: datetime,
    known_at: datetime | None,
) -> ReviewDeal:
    state = events.state_at(at, known_at)
    opening = events.timeline[0]
    assert isinstance(opening, Deal.Opened), "a deal's timeline starts with its opening"
    # The read models listed it as open at T known at K: its own events agree.
    assert state.status is Status.OPEN
    assert state.opened_at is not None
    assert state.stage_entered_at is not None
    spec = policies.get(state.policy)
    next_stage, waiting = _waiting_on(state, spec, guards, at)
    held = state.key_info
    expected = () if spec is None else expected_topics(_probability(spec, state.stage))
    step = state.next_step
    return ReviewDeal(
        deal=state.key,
        policy=state.policy,
        stage=state.stage,
        grade=grade_name,
        owner=state.owner,
        team=state.team,
        account=state.account,
        amount=state.amount,
        currency=state.currency,
        expected_close=state.expected_close,
        stage_entered_at=state.stage_entered_at,
        opened_at=state.opened_at,
        opened_by=opening.actor,
        opened_in=opening.stage,
        source=opening.provenance,
        next_step=None if step is None else ReviewNextStep(step.action, step.due, step.owner),
        last_contact=max(state.opened_at, state.last_visit_at or state.opened_at),
        next_contact=None if step is None else step.due,
        next_stage=next_stage,
        waiting_on=tuple(waiting),
        key_info=tuple(held[t] for t in TOPICS if t in held),
        expected=expected,
        missing=tuple(t for t in expected if t not in held),
        unevidenced=tuple(t for t in TOPICS if t in held and not held[t].evidence),
    )


def _probability(spec: FunnelPolicy, stage: str) -> int:
    return spec.probability(stage) if spec.has_stage(stage) else 0


def _waiting_on(
    state: DealState,
    spec: FunnelPolicy | None,
    guards: dict[str, StageGuard],
    at: datetime,
) -> tuple[str | None, list[str]]:
    """The stage after the deal's (under the policy file now) and its entry criteria not
    met at T; (None, []) at the last stage or a stage the file no longer has."""
    if spec is None or not spec.has_stage(state.stage):
        return None, []
    stages = spec.stage_keys
    n = spec.index(state.stage)
    if n + 1 >= len(stages):
        return None, []
    guard = guards.get(spec.name)
    if guard is None:
        guard = guards[spec.name] = StageGuard(spec)
    return stages[n + 1], guard.unmet("advance", state, stages[n + 1], at)


def review_document(result: Review, earliest: datetime | None) -> dict[str, Any]:
    """``salesengine review --json``: what was asked, then each part of the pack."""
    accounts = result.accounts
    return {
        "as_of": result.as_of,
        "known_at": result.known_at,
        "owner": result.only.owner,
        "team": result.only.team,
        "period": result.period.as_dict(),
        "seed": result.seed,
        "sample": result.sample,
        "grades": [
            {
                "grade": g.grade,
                "total": g.total,
                "sampled": g.sampled,
                "deals": [d.as_dict() for d in g.deals],
            }
            for g in result.grades
        ],
        "overdue_contacts": [
            grouped_json(c, None) | {"days_since": round(c.days_since, 2)}
            for c in result.overdue_contacts
        ],
        "new_deals": [jsonable(n) for n in result.new_deals],
        "new_deals_total": len(result.new_deals),
        "accounts": None
        if accounts is None
        else {"per_grade": dict(accounts.per_grade), "new_accounts": accounts.new_accounts},
        "earliest_recorded": earliest,
    }
