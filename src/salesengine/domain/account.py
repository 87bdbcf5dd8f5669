"""The Account aggregate (客户): every change to a customer account is an immutable event.

Like a deal, each event carries two clocks, ``effective_at`` (given by the writer) and
``timestamp`` (when the engine recorded it); the account's timeline is its events by
effective time, ties by stream version, and its state (``AccountState``) the fold of
that timeline. Buying power, share of wallet, the grade and every contact change are
dated facts, so the account as of T, known at K, is a fold of the events in view.

The events are nested in ``Account`` (the library's style, as for ``Deal``): stored
events name their class by topic (``salesengine.domain.account:Account.Opened``), so
they stay here.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from salesengine.domain.account_state import (
    AccountState,
    Activity,
    Contact,
    chart_problem,
)
from salesengine.domain.errors import CommandRefused, InvalidTime
from salesengine.domain.eventsourcing_seam import (
    append_new_event,
    create_aggregate,
)
from salesengine.domain.stamping import check_not_future, stamp_fields, stamped_event
from salesengine.domain.values import Stamp

# Account ids derive from the writer's key, in a namespace of their own: an account and
# a deal under the same key are different streams.
ACCOUNT_NAMESPACE = uuid5(NAMESPACE_URL, "salesengine:account")


def account_id(key: str) -> UUID:
    return uuid5(ACCOUNT_NAMESPACE, key)


class UnknownAccount(CommandRefused):
    code = "unknown_account"


class AccountAlreadyExists(CommandRefused):
    code = "account_exists"


class UnknownContact(CommandRefused):
    code = "unknown_contact"


class ContactExists(CommandRefused):
    code = "contact_exists"


class OrgChartCycle(CommandRefused):
    """A reporting line that would make someone their own superior."""

    code = "org_chart_cycle"


class Account(Aggregate):
    """A customer: who owns it, what it can buy, how much of it we have, who decides."""

    class Event(Aggregate.Event):
        effective_at: datetime
        actor: str
        command_id: str | None
        provenance: dict[str, str] | None
        command_digest: str | None

        def evolve(self, state: AccountState) -> AccountState:
            raise NotImplementedError

        def apply(self, account: Account) -> None:
            account._absorb(self)

    class Opened(Aggregate.Created):
        effective_at: datetime
        actor: str
        command_id: str | None
        provenance: dict[str, str] | None
        command_digest: str | None
        account: str
        name: str
        owner: str
        team: str | None
        region: str | None
        industry: str | None
        customer: str | None
        adopted_from: str | None

        def evolve(self, state: AccountState) -> AccountState:  # noqa: ARG002 - the first
            return AccountState(
                key=self.account,
                name=self.name,
                owner=self.owner,
                team=self.team,
                region=self.region,
                industry=self.industry,
                customer=self.customer,
                opened_at=self.effective_at,
                adopted_from=self.adopted_from,
            )

        def apply(self, account: Account) -> None:
            account._absorb(self)

    class Changed(Event):
        """The account's own fields; None leaves a field as it was."""

        name: str | None
        owner: str | None
        team: str | None
        region: str | None
        industry: str | None
        customer: str | None

        def evolve(self, state: AccountState) -> AccountState:
            given = {
                "name": self.name,
                "owner": self.owner,
                "team": self.team,
                "region": self.region,
                "industry": self.industry,
                "customer": self.customer,
            }
            return state.evolve(**{k: v for k, v in given.items() if v is not None})

    class BuyingPowerSet(Event):
        amount: Decimal
        currency: str
        note: str | None

        def evolve(self, state: AccountState) -> AccountState:
            return state.evolve(
                buying_power=self.amount, bp_currency=self.currency, bp_at=self.effective_at
            )

    class ShareOfWalletSet(Event):
        percent: Decimal
        note: str | None

        def evolve(self, state: AccountState) -> AccountState:
            return state.evolve(share_of_wallet=self.percent, sow_at=self.effective_at)

    class GradeSet(Event):
        grade: str | None  # None: back to the grade derived from the account's deals
        reason: str | None

        def evolve(self, state: AccountState) -> AccountState:
            return state.evolve(grade=self.grade, grade_at=self.effective_at)

    class ContactAdded(Event):
        contact: str
        name: str
        title: str | None
        role: str
        support: int
        reports_to: str | None

        def evolve(self, state: AccountState) -> AccountState:
            return state.with_contact(
                Contact(
                    self.contact,
                    self.name,
                    self.title,
                    self.role,
                    self.support,
                    self.reports_to,
                    self.effective_at,
                )
            )

    class ContactChanged(Event):
        """None leaves a field as it was; ``cleared`` names fields set to none."""

        contact: str
        name: str | None
        title: str | None
        role: str | None
        support: int | None
        reports_to: str | None
        cleared: list[str]

        def evolve(self, state: AccountState) -> AccountState:
            contact = state.contacts.get(self.contact)
            if contact is None:
                return state  # not a contact in this view: nothing to change
            given = {
                "name": self.name,
                "title": self.title,
                "role": self.role,
                "support": self.support,
                "reports_to": self.reports_to,
            }
            changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
            changes.update(dict.fromkeys(self.cleared))
            return state.with_contact(contact.evolve(**changes))

    class ContactLeft(Event):
        contact: str
        reason: str | None

        def evolve(self, state: AccountState) -> AccountState:
            contact = state.contacts.get(self.contact)
            if contact is None:
                return state
            return state.with_contact(
                contact.evolve(left_at=self.effective_at, left_reason=self.reason)
            )

    class ActivityLogged(Event):
        kind: str
        effective: bool
        attendees: list[str]
        note: str | None

        def evolve(self, state: AccountState) -> AccountState:
            activity = Activity(
                self.kind,
                self.effective,
                tuple(self.attendees),
                self.note,
                self.effective_at,
                self.actor,
                self.originator_version,
            )
            return state.evolve(activities=(*state.activities, activity))

    def __init__(self) -> None:
        self.state = AccountState()
        self.timeline: list[AccountEvent] = []
        self.command_ids: set[str] = set()
        self.command_digests: dict[str, str] = {}

    # ----------------------------------------------------------------- queries

    def state_at(self, at: datetime, known_at: datetime | None = None) -> AccountState:
        """The account as it stood at effective time ``at``, from events recorded by
        ``known_at`` (all of them without it)."""
        return fold(
            e
            for e in self.timeline
            if e.effective_at <= at and (known_at is None or e.timestamp <= known_at)
        )

    def has_applied(self, command_id: str | None) -> bool:
        return command_id is not None and command_id in self.command_ids

    def applied_digest(self, command_id: str) -> str | None:
        return self.command_digests.get(command_id)

    # ---------------------------------------------------------------- commands

    @classmethod
    def open(
        cls,
        *,
        key: str,
        stamp: Stamp,
        name: str,
        owner: str,
        team: str | None = None,
        region: str | None = None,
        industry: str | None = None,
        customer: str | None = None,
        adopted_from: str | None = None,
    ) -> Account:
        _check_not_future(stamp)
        return create_aggregate(
            cls,
            cls.Opened,
            id=account_id(key),
            timestamp=stamp.recorded_at,
            **stamp_fields(stamp),
            account=key,
            name=name,
            owner=owner,
            team=team,
            region=region,
            industry=industry,
            customer=customer,
            adopted_from=adopted_from,
        )

    def change(self, stamp: Stamp, **fields: str | None) -> None:
        self._check_time(stamp)
        self._trigger(Account.Changed, stamp, **fields)

    def set_buying_power(
        self, amount: Decimal, currency: str, note: str | None, stamp: Stamp
    ) -> None:
        self._check_time(stamp)
        self._trigger(Account.BuyingPowerSet, stamp, amount=amount, currency=currency, note=note)

    def set_share_of_wallet(self, percent: Decimal, note: str | None, stamp: Stamp) -> None:
        self._check_time(stamp)
        self._trigger(Account.ShareOfWalletSet, stamp, percent=percent, note=note)

    def set_grade(self, grade: str | None, reason: str | None, stamp: Stamp) -> None:
        self._check_time(stamp)
        self._trigger(Account.GradeSet, stamp, grade=grade, reason=reason)

    def add_contact(
        self,
        contact: str,
        *,
        name: str,
        title: str | None,
        role: str,
        support: int,
        reports_to: str | None,
        stamp: Stamp,
    ) -> None:
        self._check_time(stamp)
        there = self.state_at(stamp.effective_at).contacts.get(contact)
        if there is not None and there.present:
            raise ContactExists(
                f"contact '{contact}' is already a contact of account '{self.state.key}' at "
                f"{stamp.effective_at.isoformat()}: record what changed with contact change"
            )
        for event in self.timeline:
            if (
                isinstance(event, Account.ContactAdded)
                and event.contact == contact
                and event.effective_at > stamp.effective_at
            ):
                raise ContactExists(
                    f"contact '{contact}' is added to account '{self.state.key}' later, at "
                    f"{event.effective_at.isoformat()}: change that contact instead, or "
                    "choose another contact key"
                )
        self._trigger(
            Account.ContactAdded,
            stamp,
            contact=contact,
            name=name,
            title=title,
            role=role,
            support=support,
            reports_to=reports_to,
        )

    def change_contact(
        self,
        contact: str,
        stamp: Stamp,
        *,
        cleared: list[str],
        **fields: Any,
    ) -> None:
        self._check_time(stamp)
        self._check_present(contact, stamp.effective_at, "change")
        self._trigger(Account.ContactChanged, stamp, contact=contact, cleared=cleared, **fields)

    def contact_left(self, contact: str, reason: str | None, stamp: Stamp) -> None:
        self._check_time(stamp)
        self._check_present(contact, stamp.effective_at, "record the leaving of")
        self._trigger(Account.ContactLeft, stamp, contact=contact, reason=reason)

    def log_activity(
        self, kind: str, effective: bool, attendees: list[str], note: str | None, stamp: Stamp
    ) -> None:
        self._check_time(stamp)
        self._trigger(
            Account.ActivityLogged,
            stamp,
            kind=kind,
            effective=effective,
            attendees=attendees,
            note=note,
        )

    # ---------------------------------------------------------------- checks

    def _check_time(self, stamp: Stamp) -> None:
        _check_not_future(stamp)
        opened_at = self.state.opened_at
        if opened_at is not None and stamp.effective_at < opened_at:
            raise InvalidTime(
                f"effective time {stamp.effective_at.isoformat()} is before account "
                f"'{self.state.key}' was opened ({opened_at.isoformat()}); record it "
                "effective at or after then"
            )

    def _check_present(self, contact: str, at: datetime, doing: str) -> None:
        found = self.state_at(at).contacts.get(contact)
        if found is None:
            known = sorted(self.state_at(at).contacts)
            listed = f" (contacts then: {', '.join(known)})" if known else " (it has none then)"
            raise UnknownContact(
                f"cannot {doing} contact '{contact}': not a contact of account "
                f"'{self.state.key}' at {at.isoformat()}{listed}; add it with contact add"
            )
        if found.left_at is not None:
            raise UnknownContact(
                f"cannot {doing} contact '{contact}': they left account '{self.state.key}' "
                f"at {found.left_at.isoformat()}; add them again with contact add"
            )

    def _check_org_chart(self, event: AccountEvent) -> None:
        """Refuse a contact change after which, at any point of the timeline from it on,
        someone would report to a contact the account does not have, or to themselves
        through others; a backdated change is judged against every later one too."""
        timeline = list(self.timeline)
        bisect.insort(timeline, event, key=_order)
        state = AccountState()
        for later in timeline:
            state = later.evolve(state)
            if _order(later) < _order(event):
                continue
            problem = chart_problem(state.contacts)
            if problem is None:
                continue
            kind, text = problem
            when = f"at {later.effective_at.isoformat()}"
            if kind == "cycle":
                raise OrgChartCycle(
                    f"the reporting lines of account '{self.state.key}' would loop {when}: "
                    f"{text}; nobody may report to themselves"
                )
            raise UnknownContact(f"{text} {when}; add that contact first")

    # ---------------------------------------------------------------- plumbing

    def _trigger(self, event_class: type[Account.Event], stamp: Stamp, **fields: Any) -> None:
        """The next event in sequence, built as ``Deal._trigger`` builds its own."""
        event = stamped_event(event_class, self.id, self.version + 1, stamp, fields)
        if isinstance(event, Account.ContactAdded | Account.ContactChanged):
            self._check_org_chart(event)
        self._absorb(event)
        append_new_event(self, event, stamp.recorded_at)

    def _absorb(self, event: AccountEvent) -> None:
        timeline = self.timeline
        if not timeline or _order(event) >= _order(timeline[-1]):
            timeline.append(event)
            self.state = event.evolve(self.state)
        else:  # a backdated event lands inside the timeline: fold again from the start
            bisect.insort(timeline, event, key=_order)
            self.state = fold(timeline)
        if event.command_id is not None:
            self.command_ids.add(event.command_id)
            if event.command_digest is not None:
                self.command_digests[event.command_id] = event.command_digest


AccountEvent = Account.Event | Account.Opened


def _order(event: AccountEvent) -> tuple[datetime, int]:
    return (event.effective_at, event.originator_version)


def fold(events: Iterable[AccountEvent]) -> AccountState:
    """Fold events (in timeline order) into the account they describe."""
    state = AccountState()
    for event in events:
        state = event.evolve(state)
    return state


def _check_not_future(stamp: Stamp) -> None:
    check_not_future(stamp, "record it once it has happened")
