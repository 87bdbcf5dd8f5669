"""Commands of every family (deals, accounts, quotas) applied in order, all of them or
none, in one transaction: what ``POST /api/v1/commands`` runs.

Each family is decided by its own service (``SalesEngine.decide_within``,
``Accounts.decide``, ``Quotas.decide``) on the batch's aggregates so far, and every
changed aggregate is saved together, so a batch that opens an account, sets its owner's
quota and opens a deal on it lands whole or not at all.

``admits`` is the writer's reach (``Scope.admits``: owner, team, policy) and is applied
to each family the way docs/access.md says: a deal by its owner, team and policy; an
account by its owner and team (it has no policy); a rep's quota by the rep and the team
it adds up to, a team's by the team. A stored aggregate out of reach is refused exactly
as a missing one, so the refusal tells nothing of it; a write that would leave the
writer's reach is refused with ``OutOfScope``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from datetime import datetime

from eventsourcing.persistence import IntegrityError, OperationalError

from salesengine.application.account_commands import AccountCommand, OpenAccount
from salesengine.application.accounts import (
    AccountResult,
    Accounts,
    account_taken,
    unknown_account,
)
from salesengine.application.batch import BACKOFF_CAP_SECONDS, WRITE_RETRIES
from salesengine.application.command_language import (
    AnyCommand,
    is_account_command,
    is_deal_command,
    is_quota_command,
)
from salesengine.application.engine import Reach, SalesEngine
from salesengine.application.quota_commands import ClearQuota, QuotaCommand
from salesengine.application.quotas import QuotaResult, Quotas, no_quotas
from salesengine.application.results import CommandResult, RefusedAt
from salesengine.domain.account import Account
from salesengine.domain.deal import Deal
from salesengine.domain.errors import (
    ConcurrencyConflict,
    OutOfScope,
    SalesEngineError,
    StoreUnavailable,
)
from salesengine.domain.quota import Quota, SubjectKind

AnyResult = CommandResult | AccountResult | QuotaResult
Stream = tuple[SubjectKind, str, int]
Triple = tuple[str | None, str | None, str | None]


def account_reach(account: Account) -> Triple:
    """What a writer's scope is judged on: the account's current owner and team."""
    return account.state.owner, account.state.team, None


def quota_reach(quota: Quota) -> Triple:
    """A rep's quotas: the rep and the team they add up to now; a team's: the team."""
    s = quota.state
    return (s.subject, s.team, None) if s.kind == "rep" else (None, s.subject, None)


def execute_all(
    engine: SalesEngine,
    commands: Sequence[AnyCommand],
    *,
    provenance: dict[str, str] | None = None,
    admits: Reach | None = None,
) -> list[AnyResult]:
    """Apply ``commands`` in order, all or none: the first refusal is raised
    (``RefusedAt``, with its index) and nothing is stored. A concurrent writer's change
    replays the whole batch against fresh state."""
    for attempt in range(WRITE_RETRIES):
        if attempt:
            time.sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, 0.002 * 2**attempt)))
        batch = _Batch(engine, provenance, admits)
        results: list[AnyResult] = []
        for index, command in enumerate(commands):
            try:
                results.append(batch.decide(command))
            except SalesEngineError as e:
                raise RefusedAt(e, index) from None
        try:
            batch.commit()
        except ConcurrencyConflict:
            continue
        return results
    raise ConcurrencyConflict(
        f"what this batch writes kept changing under {WRITE_RETRIES} attempts; try again"
    )


class _Batch:
    """One attempt: the aggregates the batch has read or changed so far, by key."""

    def __init__(
        self, engine: SalesEngine, provenance: dict[str, str] | None, admits: Reach | None
    ) -> None:
        self.engine = engine
        self.provenance = provenance
        self.admits = admits
        self.accounts_service = Accounts(engine)
        self.quotas_service = Quotas(engine)
        # One recorded time for the transaction: "known at K" shows all of it or none.
        self.now: datetime = engine.clock()
        self.deals: dict[str, Deal | None] = {}
        self.accounts: dict[str, Account | None] = {}
        self.quotas: dict[Stream, Quota | None] = {}

    def reaches(self, triple: Triple) -> bool:
        return self.admits is None or self.admits(*triple)

    def decide(self, command: AnyCommand) -> AnyResult:
        if is_deal_command(command):
            deal, result = self.engine.decide_within(
                command, self.deals, self.provenance, self.now, self.admits
            )
            self.deals[command.deal] = deal
            return result
        if is_account_command(command):
            return self.account(command)
        assert is_quota_command(command)  # the union's last family
        return self.quota(command)

    def account(self, command: AccountCommand) -> AccountResult:
        key = command.account
        # An opening is judged on the command before its key is looked up, as a deal's.
        opening = isinstance(command, OpenAccount)
        if isinstance(command, OpenAccount) and not self.reaches(
            (command.owner, command.team, None)
        ):
            raise OutOfScope(
                f"account '{key}' would be out of your reach: open it with an owner and "
                "team within your scope"
            )
        if key not in self.accounts:
            found = self.accounts_service.find(key)
            if found is not None and not self.reaches(account_reach(found)):
                raise account_taken(key) if opening else unknown_account(key)
            self.accounts[key] = found
        account, result = self.accounts_service.decide(
            command, self.accounts[key], self.provenance, self.now
        )
        self.accounts[key] = account
        if not self.reaches(account_reach(account)):
            raise OutOfScope(
                f"account '{key}' would be out of your reach after this command "
                f"({command.cmd}): its owner and team must stay within your scope"
            )
        return result

    def quota(self, command: QuotaCommand) -> QuotaResult:
        kind, subject = command.kind, command.subject
        stream: Stream = (kind, subject, command.quota_period.year)
        # Judged on what the command says first: that reveals nothing of the stream.
        said: Triple = (subject, command.team, None) if kind == "rep" else (None, subject, None)
        if (kind == "team" or command.team is not None) and not self.reaches(said):
            raise OutOfScope(
                f"the quotas of {command.stream} would be out of your reach: give a "
                "rep and team within your scope"
            )
        if stream not in self.quotas:
            found = self.quotas_service.find(*stream)
            if found is not None and not self.reaches(quota_reach(found)):
                if isinstance(command, ClearQuota):
                    raise no_quotas(command)
                # Subjects are one namespace, as deal keys are: a stream another team
                # keeps can only be refused as out of reach.
                raise OutOfScope(f"the quotas of {command.stream} are out of your reach")
            self.quotas[stream] = found
        quota, result = self.quotas_service.decide(
            command, self.quotas[stream], self.provenance, self.now
        )
        self.quotas[stream] = quota
        if not self.reaches(quota_reach(quota)):
            raise OutOfScope(
                f"the quotas of {command.stream} would be out of your reach: give the team "
                "(within your scope) the rep's quota adds up to"
            )
        return result

    def commit(self) -> None:
        """Save every changed aggregate of the batch in one transaction."""
        deals = [d for d in self.deals.values() if d is not None and d.pending_events]
        others: list[Account | Quota] = [
            a for a in self.accounts.values() if a is not None and a.pending_events
        ]
        others += [q for q in self.quotas.values() if q is not None and q.pending_events]
        if not others:
            if deals:
                self.engine.commit(*deals)
            return
        versions = self.engine.versions.to_keep(deals)
        try:
            if versions:
                self.engine.save(*deals, *others, policy_versions=versions)
                self.engine.versions.saved(versions)
            else:
                self.engine.save(*deals, *others)
        except IntegrityError:
            raise ConcurrencyConflict(
                "another writer changed what this batch writes first; nothing of it was stored"
            ) from None
        except OperationalError as e:
            raise StoreUnavailable(f"the event store refused the write: {e}") from None
