"""Accounts as of T, known at K: each account's fields, RAD cell, grade and cadence, its
contacts, activities and deals (docs/accounts.md; the numbers in docs/metrics.md,
"Accounts").

An account is what its own events say (folded on read, ``application.accounts``) and
what the deals naming it say: their positions and grades, and their visits, from the
read models. A deal's ``account`` string is the account's key; a key that deals name
but no account event records is an implicit account (``recorded`` false) until
``account adopt`` records it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Connection, func, select

from salesengine.access.principal import Scope
from salesengine.access.scope_sql import scoped
from salesengine.application.accounts import AccountEvents, Accounts
from salesengine.domain.account import UnknownAccount
from salesengine.domain.account_state import SUPPORT_NAMES, AccountState, Activity
from salesengine.domain.policy import FunnelPolicy
from salesengine.domain.values import OUTCOMES
from salesengine.projections import visits as visits_model
from salesengine.projections.base import from_units, from_us, to_us
from salesengine.reports.common import holds_at, known
from salesengine.reports.funnel import ATTRIBUTES, INTERVALS, deals_at
from salesengine.reports.health import CADENCE_DAYS, GRADES, grade

VISITS = visits_model.table
DAY_SECONDS = 86_400


@dataclass(frozen=True, slots=True)
class AccountDeal:
    deal: str
    position: str  # its stage while open, else its outcome
    open: bool
    owner: str | None
    team: str | None
    region: str | None
    amount: Decimal | None
    currency: str | None
    expected_close: date | None
    opened_at: datetime
    grade: str | None  # METRICS.md's grade at T by its policy's days, for an open deal
    policy: str | None = None


@dataclass(frozen=True, slots=True)
class ContactView:
    contact: str
    name: str
    title: str | None
    role: str
    support: int
    support_name: str
    reports_to: str | None
    since: datetime
    left_at: datetime | None
    left_reason: str | None


@dataclass(frozen=True, slots=True)
class ActivityView:
    """An activity logged on the account, or a visit logged on one of its deals."""

    at: datetime
    kind: str
    effective: bool
    actor: str
    on: str  # "account", or the deal's key
    attendees: tuple[str, ...] = ()
    note: str | None = None


@dataclass(frozen=True, slots=True)
class AccountView:
    account: str
    recorded: bool  # False: only named by deals (an implicit account)
    name: str
    owner: str | None
    team: str | None
    region: str | None
    industry: str | None
    customer: str | None
    opened_at: datetime
    adopted_from: str | None
    buying_power: Decimal | None
    bp_currency: str | None
    bp_at: datetime | None
    share_of_wallet: Decimal | None
    sow_at: datetime | None
    rad: str | None
    grade: str
    grade_source: str  # "set", "deals" (best of its open deals) or "no_open_deals"
    cadence_days: int
    last_contact: datetime | None
    days_since_contact: float | None
    in_cadence: bool  # contacted within the grade's cadence before T
    contacts: list[ContactView] = field(default_factory=list)
    activities: list[ActivityView] = field(default_factory=list)  # the latest first
    deals: list[AccountDeal] = field(default_factory=list)

    @property
    def open_deals(self) -> int:
        return sum(d.open for d in self.deals)


@dataclass(frozen=True, slots=True)
class AccountFilter:
    """Which accounts a list keeps, by their values at T; None keeps every value."""

    owner: str | None = None
    team: str | None = None
    region: str | None = None
    grade: str | None = None
    rad: str | None = None

    def keeps(self, view: AccountView) -> bool:
        wanted = (
            (self.owner, view.owner),
            (self.team, view.team),
            (self.region, view.region),
            (self.grade, view.grade),
            (self.rad, view.rad),
        )
        return all(want is None or want == have for want, have in wanted)


def account_views(
    conn: Connection,
    accounts: Accounts,
    *,
    as_of: datetime,
    known_at: datetime | None,
    only: str | None = None,
    cadence_days: Mapping[str, int] = CADENCE_DAYS,
    policies: Mapping[str, FunnelPolicy] | None = None,
    keys: Collection[str] | None = None,
    scope: Scope | None = None,
) -> list[AccountView]:
    """Every account open at T as known at K, recorded or implicit, by key (``only``: that
    key's alone). Its deals are graded by their own policy's days (``policies``), and its
    cadence is the tightest its grade has in the policies of its open deals;
    ``cadence_days`` when it has none, or without ``policies``.

    ``keys``: only these accounts, and only their events are folded (a principal's, from
    ``account_scope.reachable_accounts``); ``scope``: only the deals (and their visits) it
    reaches are read, so an account shows, and is graded by, the caller's deals alone."""
    if only is not None:
        streams = [] if keys is not None and only not in keys else _one(accounts, only)
    elif keys is not None:
        streams = [s for key in sorted(keys) for s in _one(accounts, key)]
    else:
        streams = accounts.all_events()
    recorded: dict[str, AccountState] = {}
    for events in streams:
        state = events.state_at(as_of, known_at)
        if state.exists:
            recorded[state.key] = state
    known_policies = policies or {}
    deals = _deals(conn, as_of, known_at, only, known_policies, scope)
    visits = _visits(conn, as_of, known_at, only, scope)
    named = set(recorded) | set(deals)
    listed = sorted(named if keys is None else named & set(keys))
    return [
        _view(
            key,
            recorded.get(key),
            deals.get(key, []),
            visits.get(key, []),
            as_of,
            _cadence(deals.get(key, []), known_policies, cadence_days),
        )
        for key in listed
    ]


def _cadence(
    deals: list[AccountDeal], policies: Mapping[str, FunnelPolicy], default: Mapping[str, int]
) -> Mapping[str, int]:
    """Days per grade an account may go without a contact: for each grade, the tightest
    among the policies of its open deals; ``default`` without any."""
    chosen = [
        policies[d.policy]
        for d in deals
        if d.open and d.policy is not None and d.policy in policies
    ]
    if not chosen:
        return default
    return {g: min(p.cadence_days(g) for p in chosen) for g in GRADES}


def account_view(
    conn: Connection,
    accounts: Accounts,
    key: str,
    *,
    as_of: datetime,
    known_at: datetime | None,
    policies: Mapping[str, FunnelPolicy] | None = None,
    keys: Collection[str] | None = None,
    scope: Scope | None = None,
) -> AccountView:
    """One account at T known at K; refused if neither its events nor a deal name it then
    (or, with ``keys``, if it is not one of them)."""
    views = account_views(
        conn,
        accounts,
        as_of=as_of,
        known_at=known_at,
        only=key,
        policies=policies,
        keys=keys,
        scope=scope,
    )
    if not views:
        raise UnknownAccount(
            f"no account '{key}' as of {as_of.isoformat()}"
            + ("" if known_at is None else f", known at {known_at.isoformat()}")
            + ": no account event and no deal names it then (account list shows those there are)"
        )
    return views[0]


def _one(accounts: Accounts, key: str) -> list[AccountEvents]:
    found = accounts.find(key)
    return [] if found is None else [AccountEvents(key, found.version, tuple(found.timeline))]


def _view(
    key: str,
    state: AccountState | None,
    deals: list[AccountDeal],
    visits: list[ActivityView],
    as_of: datetime,
    cadence_days: Mapping[str, int],
) -> AccountView:
    deals = sorted(deals, key=lambda d: (d.opened_at, d.deal))
    open_grades = [d.grade for d in deals if d.grade is not None]
    if state is not None and state.grade is not None:
        chosen, source = state.grade, "set"
    elif open_grades:
        chosen, source = min(open_grades, key=GRADES.index), "deals"
    else:
        chosen, source = "D", "no_open_deals"
    own = [] if state is None else [_activity(a) for a in state.activities]
    activities = sorted([*own, *visits], key=lambda a: (a.at, a.on, a.kind), reverse=True)
    last = activities[0].at if activities else None
    cadence = cadence_days[chosen]
    since = None if last is None else (as_of - last).total_seconds() / DAY_SECONDS
    in_cadence = since is not None and since <= cadence
    s = state
    # Implicit (named by deals alone): its owner, team and region are those that the
    # earliest opened of its deals with an owner has at T (the earliest, if none has).
    first = next((d for d in deals if d.owner is not None), deals[0] if deals else None)
    if s is None:
        assert first is not None  # an implicit account has deals
        owner, team, region = first.owner, first.team, first.region
    else:
        owner, team, region = s.owner, s.team, s.region
    contacts = [] if s is None else sorted(s.contacts.values(), key=lambda c: c.key)
    return AccountView(
        account=key,
        recorded=s is not None,
        name=key if s is None else s.name,
        owner=owner,
        team=team,
        region=region,
        industry=None if s is None else s.industry,
        customer=None if s is None else s.customer,
        opened_at=deals[0].opened_at if s is None or s.opened_at is None else s.opened_at,
        adopted_from=None if s is None else s.adopted_from,
        buying_power=None if s is None else s.buying_power,
        bp_currency=None if s is None else s.bp_currency,
        bp_at=None if s is None else s.bp_at,
        share_of_wallet=None if s is None else s.share_of_wallet,
        sow_at=None if s is None else s.sow_at,
        rad=None if s is None else s.rad,
        grade=chosen,
        grade_source=source,
        cadence_days=cadence,
        last_contact=last,
        days_since_contact=since,
        in_cadence=in_cadence,
        contacts=[
            ContactView(
                c.key,
                c.name,
                c.title,
                c.role,
                c.support,
                SUPPORT_NAMES[c.support],
                c.reports_to,
                c.since,
                c.left_at,
                c.left_reason,
            )
            for c in contacts
        ],
        activities=activities,
        deals=deals,
    )


def _activity(a: Activity) -> ActivityView:
    return ActivityView(a.at, a.kind, a.effective, a.actor, "account", a.attendees, a.note)


def _deals(
    conn: Connection,
    as_of: datetime,
    known_at: datetime | None,
    only: str | None,
    policies: Mapping[str, FunnelPolicy],
    scope: Scope | None = None,
) -> dict[str, list[AccountDeal]]:
    """The deals naming an account, opened at T as known at K, by account key."""
    i, a = INTERVALS.c, ATTRIBUTES.c
    opening = INTERVALS.alias("opening")
    opened_at = (
        select(func.min(opening.c.entered_at))
        .where(opening.c.deal_id == i.deal_id, opening.c.via == "opened")
        .scalar_subquery()
    )
    query = deals_at(
        a.account,
        a.deal,
        i.stage,
        i.policy,
        a.owner,
        a.team,
        a.region,
        a.amount,
        a.currency,
        a.expected_close,
        opened_at.label("opened_at"),
        at=as_of,
        known_at=known_at,
    ).where(a.account.is_not(None))
    if only is not None:
        query = query.where(a.account == only)
    query = scoped(query, scope, i.deal_id)
    found: dict[str, list[AccountDeal]] = {}
    for r in conn.execute(query):
        is_open = r.stage not in OUTCOMES
        close = None if r.expected_close is None else date.fromisoformat(r.expected_close)
        found.setdefault(r.account, []).append(
            AccountDeal(
                r.deal,
                r.stage,
                is_open,
                r.owner,
                r.team,
                r.region,
                None if r.amount is None else from_units(int(r.amount)),
                r.currency,
                close,
                from_us(int(r.opened_at)),
                grade(close, as_of, policies.get(r.policy)) if is_open else None,
                r.policy,
            )
        )
    return found


def _visits(
    conn: Connection,
    as_of: datetime,
    known_at: datetime | None,
    only: str | None,
    scope: Scope | None = None,
) -> dict[str, list[ActivityView]]:
    """The visits logged on each account's deals, effective at or before T, known at K."""
    v, a = VISITS.c, ATTRIBUTES.c
    query = (
        select(a.account, a.deal, v.kind, v.effective, v.effective_at, v.actor)
        .select_from(VISITS.join(ATTRIBUTES, a.deal_id == v.deal_id))
        .where(
            holds_at(a.valid_from, a.valid_to, as_of),
            known(ATTRIBUTES, known_at),
            a.account.is_not(None),
            v.effective_at <= to_us(as_of),
        )
    )
    if known_at is not None:
        query = query.where(v.recorded_at <= to_us(known_at))
    if only is not None:
        query = query.where(a.account == only)
    query = scoped(query, scope, v.deal_id)
    found: dict[str, list[ActivityView]] = {}
    for r in conn.execute(query):
        visit = ActivityView(
            from_us(int(r.effective_at)), r.kind, bool(r.effective), r.actor, r.deal
        )
        found.setdefault(r.account, []).append(visit)
    return found


# ------------------------------------------------------------------ coverage (SOA)


@dataclass(frozen=True, slots=True)
class CoverageRow:
    owner: str | None
    grade: str
    cadence_days: int
    accounts: int
    named_owner: int
    in_cadence: int
    covered: int  # a named owner and a contact within the cadence
    never_contacted: int
    coverage: float | None  # covered / accounts


@dataclass(frozen=True, slots=True)
class UncoveredAccount:
    account: str
    owner: str | None
    grade: str
    last_contact: datetime | None
    days_since_contact: float | None
    cadence_days: int


@dataclass(frozen=True, slots=True)
class Coverage:
    as_of: datetime
    known_at: datetime | None
    rows: list[CoverageRow]
    total: CoverageRow
    never_contacted: list[UncoveredAccount]
    overdue: list[UncoveredAccount]  # contacted, but not within the grade's cadence


def coverage(
    views: Iterable[AccountView], *, as_of: datetime, known_at: datetime | None
) -> Coverage:
    """SOA per owner and grade (docs/metrics.md, "Coverage (SOA)")."""
    counts: dict[tuple[str | None, str], list[int]] = {}
    cadences: dict[str, int] = {}  # per grade, as the views read it
    never: list[UncoveredAccount] = []
    overdue: list[UncoveredAccount] = []
    for v in views:
        c = counts.setdefault((v.owner, v.grade), [0, 0, 0, 0, 0])
        cadences[v.grade] = v.cadence_days
        named = bool(v.owner)
        c[0] += 1
        c[1] += named
        c[2] += v.in_cadence
        c[3] += named and v.in_cadence
        c[4] += v.last_contact is None
        miss = UncoveredAccount(
            v.account, v.owner, v.grade, v.last_contact, v.days_since_contact, v.cadence_days
        )
        if v.last_contact is None:
            never.append(miss)
        elif not v.in_cadence:
            overdue.append(miss)
    rows = [
        _row(owner, g, cadences[g], counts[(owner, g)])
        for owner, g in sorted(counts, key=lambda k: (k[0] is None, k[0] or "", GRADES.index(k[1])))
    ]
    totals = [sum(c[n] for c in counts.values()) for n in range(5)]
    return Coverage(
        as_of,
        known_at,
        rows,
        _row(None, "all", 0, totals),
        sorted(never, key=lambda u: (GRADES.index(u.grade), u.account)),
        sorted(overdue, key=lambda u: (-(u.days_since_contact or 0) / u.cadence_days, u.account)),
    )


def _row(owner: str | None, g: str, cadence: int, c: list[int]) -> CoverageRow:
    share = None if c[0] == 0 else c[3] / c[0]
    return CoverageRow(owner, g, cadence, c[0], c[1], c[2], c[3], c[4], share)
