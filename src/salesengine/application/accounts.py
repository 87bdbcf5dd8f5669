"""The account service: account commands in, guarded events out, in the engine's store.

Accounts live in the same event store as deals, written through the same
``SalesEngine`` (its repository, clock, default actor and ``save``), each in a stream of
its own (``domain.account.account_id``). Reads fold an account's events on demand: an
account has few events, and reading them all costs one query per account (listing the
accounts, one query over the log's account openings).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import PersistenceError
from eventsourcing.utils import get_topic

from salesengine.application.account_commands import (
    AccountCommand,
    AddContact,
    ChangeAccount,
    ChangeContact,
    ContactLeft,
    LogActivity,
    OpenAccount,
    SetBuyingPower,
    SetGrade,
    SetShareOfWallet,
)
from salesengine.application.commands import command_digest
from salesengine.application.engine import SalesEngine
from salesengine.application.retries import retry_on_conflict
from salesengine.domain.account import (
    Account,
    AccountAlreadyExists,
    AccountEvent,
    UnknownAccount,
    account_id,
    fold,
)
from salesengine.domain.account_state import AccountState
from salesengine.domain.errors import (
    CommandIdReused,
    CommandRefused,
    StoreUnavailable,
)
from salesengine.domain.values import Stamp

ACCOUNT_OPENED_TOPIC = get_topic(Account.Opened)


@dataclass(frozen=True, slots=True)
class AccountResult:
    account: str
    status: Literal["applied", "duplicate"]
    event: str | None
    version: int


@dataclass(frozen=True, slots=True)
class AccountEvents:
    """One account as data: its events in timeline order (effective time, then version)."""

    key: str
    version: int
    timeline: tuple[AccountEvent, ...]

    def state_at(self, at: datetime, known_at: datetime | None = None) -> AccountState:
        """The account at effective time ``at`` from the events recorded by ``known_at``;
        an ``AccountState`` whose ``exists`` is False if it was not open then."""
        return fold(
            e
            for e in self.timeline
            if e.effective_at <= at and (known_at is None or e.timestamp <= known_at)
        )


class Accounts:
    """Commands on accounts and reads of them, through the engine's store."""

    def __init__(self, engine: SalesEngine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ writes

    def execute(
        self, command: AccountCommand, *, provenance: dict[str, str] | None = None
    ) -> AccountResult:
        """Apply one command; a concurrent writer's change is retried against fresh state."""

        def once() -> AccountResult:
            account, result = self.decide(command, self.find(command.account), provenance)
            if result.status != "duplicate":
                self.commit(account)
            return result

        return retry_on_conflict(once, f"account '{command.account}'")

    def decide(
        self,
        command: AccountCommand,
        account: Account | None,
        provenance: dict[str, str] | None = None,
        now: datetime | None = None,
    ) -> tuple[Account, AccountResult]:
        """Let the aggregate accept or refuse the command; nothing is saved here.
        ``now``: the recorded time of the transaction the command is saved in."""
        now = now or self.engine.clock()
        if account is not None and account.modified_on > now:
            now = account.modified_on  # recorded times never run backwards in a stream
        at = command.at if command.at is not None else now
        digest = None if command.id is None else command_digest(command)
        stamp = Stamp(
            at, now, command.by or self.engine.default_actor, command.id, provenance, digest
        )
        if account is not None and command.id is not None and account.has_applied(command.id):
            applied = account.applied_digest(command.id)
            if applied is not None and applied != digest:
                raise CommandIdReused(
                    f"command id '{command.id}' was already applied to account "
                    f"'{command.account}' with different content: a retry repeats the "
                    "command exactly, a new command needs a new id"
                )
            return account, AccountResult(command.account, "duplicate", None, account.version)
        if isinstance(command, OpenAccount):
            if account is not None:
                raise account_taken(command.account)
            account = Account.open(
                key=command.account,
                stamp=stamp,
                name=command.name or command.account,
                owner=command.owner,
                team=command.team,
                region=command.region,
                industry=command.industry,
                customer=command.customer,
                adopted_from=command.adopted_from,
            )
        else:
            if account is None:
                raise unknown_account(command.account)
            _dispatch(account, command, stamp)
        event = type(account.pending_events[-1]).__name__
        return account, AccountResult(command.account, "applied", event, account.version)

    def commit(self, *accounts: Account) -> None:
        """Save the accounts' new events atomically (``SalesEngine.commit``)."""
        self.engine.commit(*accounts)

    # ----------------------------------------------------------------- reads

    def find(self, key: str) -> Account | None:
        try:
            found: object = self.engine.repository.get(account_id(key))
        except AggregateNotFoundError:
            return None
        except PersistenceError as e:
            raise StoreUnavailable(f"cannot read account '{key}': {e}") from None
        assert isinstance(found, Account)
        return found

    def events(self, key: str) -> AccountEvents:
        """The account's events in timeline order; an unknown key is refused."""
        account = self.find(key)
        if account is None:
            raise unknown_account(key)
        return AccountEvents(key, account.version, tuple(account.timeline))

    def state(
        self, key: str, as_of: datetime | None = None, known_at: datetime | None = None
    ) -> AccountState:
        """The account as of T (default now), known at K (default: all recorded)."""
        return self.events(key).state_at(as_of or self.engine.clock(), known_at)

    def keys(self, page: int = 1000) -> Iterator[str]:
        """Every account ever opened, in the order they were first recorded."""
        recorder = self.engine.recorder
        start = 1
        while True:
            try:
                found = recorder.select_notifications(start, page, topics=[ACCOUNT_OPENED_TOPIC])
            except PersistenceError as e:
                raise StoreUnavailable(f"cannot read the event store: {e}") from None
            for n in found:
                event = self.engine.mapper.to_domain_event(n)
                assert isinstance(event, Account.Opened)
                yield event.account
            if len(found) < page:
                return
            start = found[-1].id + 1

    def all_events(self) -> list[AccountEvents]:
        """Every account's events, in the order the accounts were first recorded."""
        return [self.events(key) for key in self.keys()]


def account_taken(key: str) -> AccountAlreadyExists:
    return AccountAlreadyExists(
        f"account '{key}' already exists: record what changed with account change (or "
        "bp, sow, grade, contact, activity)"
    )


def unknown_account(key: str) -> UnknownAccount:
    return UnknownAccount(
        f"unknown account '{key}': open it with account open (or record the accounts "
        "your deals name with account adopt)"
    )


def _dispatch(account: Account, command: AccountCommand, stamp: Stamp) -> None:
    match command:
        case ChangeAccount():
            account.change(
                stamp,
                name=command.name,
                owner=command.owner,
                team=command.team,
                region=command.region,
                industry=command.industry,
                customer=command.customer,
            )
        case SetBuyingPower(amount=amount, currency=currency, note=note):
            account.set_buying_power(amount, currency, note, stamp)
        case SetShareOfWallet(percent=percent, note=note):
            account.set_share_of_wallet(percent, note, stamp)
        case SetGrade(grade=grade, reason=reason):
            account.set_grade(grade, reason, stamp)
        case AddContact():
            account.add_contact(
                command.contact,
                name=command.name,
                title=command.title,
                role=command.role,
                support=command.support,
                reports_to=command.reports_to,
                stamp=stamp,
            )
        case ChangeContact():
            account.change_contact(
                command.contact,
                stamp,
                cleared=list(command.clear),
                name=command.name,
                title=command.title,
                role=command.role,
                support=command.support,
                reports_to=command.reports_to,
            )
        case ContactLeft(contact=contact, reason=reason):
            account.contact_left(contact, reason, stamp)
        case LogActivity():
            account.log_activity(
                command.kind, command.effective, list(command.attendees), command.note, stamp
            )
        case _:  # pragma: no cover - the union is exhaustive
            raise CommandRefused(f"unsupported account command {command.cmd}")
