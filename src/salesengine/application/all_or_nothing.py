"""Commands of every family (deals, accounts, quotas) applied in order, all of them or
none, in one transaction: what ``POST /api/v1/commands`` runs.

Each family is decided by its own service (``SalesEngine.decide_within``,
``Accounts.decide``, ``Quotas.decide``) on the batch's aggregates so far, and every
changed aggregate is saved together, so a batch that opens an account, sets its owner's
quota and opens a deal on it lands whole or not at all.

``admits`` is the writer's reach (``Scope.admits``: owner, team, policy) and is applied
to each family the way docs/access.md says: a deal by its owner, team and policy; an
account by its owner and team (it has no policy); a rep's quota by the rep and the team
it adds up to, a team's by the team. A stored aggregate out of reach is refused as
docs/access.md says, each refusal telling no more than keys being one namespace does: a
deal or account as an unknown one, but an opening under its key as a taken key
(``deal_exists``, ``account_exists``); a quota stream's clearing as a subject with no
quotas, its setting as ``OutOfScope``. A write that would leave the writer's reach is
refused with ``OutOfScope``, and so is a writer short of everything placing a rep in a
team their quotas never named (``placement``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from salesengine.application.account_commands import AccountCommand, OpenAccount
from salesengine.application.accounts import (
    AccountResult,
    Accounts,
    account_taken,
    unknown_account,
)
from salesengine.application.command_language import (
    AnyCommand,
    is_account_command,
    is_deal_command,
    is_quota_command,
)
from salesengine.application.engine import Reach, SalesEngine
from salesengine.application.quota_commands import ClearQuota, QuotaCommand, SetQuota
from salesengine.application.quotas import QuotaResult, Quotas, no_quotas
from salesengine.application.results import CommandResult, RefusedAt
from salesengine.application.retries import retry_on_conflict
from salesengine.domain.account import Account
from salesengine.domain.deal import Deal
from salesengine.domain.errors import (
    OutOfScope,
    SalesEngineError,
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

    def once() -> list[AnyResult]:
        batch = _Batch(engine, provenance, admits)
        results: list[AnyResult] = []
        for index, command in enumerate(commands):
            try:
                results.append(batch.decide(command))
            except SalesEngineError as e:
                raise RefusedAt(e, index) from None
        batch.commit()
        return results

    return retry_on_conflict(once, "what this batch writes")


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
        # The recorded time of the transaction's events: one for the batch, unless the
        # clock is behind an aggregate's last event: that aggregate's events then take its
        # time (each family's ``decide``), as recorded times never run backwards in a stream.
        self.now: datetime = engine.clock()
        self.deals: dict[str, Deal | None] = {}
        self.accounts: dict[str, Account | None] = {}
        self.quotas: dict[Stream, Quota | None] = {}

    def reaches(self, triple: Triple) -> bool:
        return self.admits is None or self.admits(*triple)

    def reaches_everything(self) -> bool:
        # Only a scope over everything admits an aggregate of no owner, team or policy.
        return self.reaches((None, None, None))

    def team_by_quotas(self, rep: str, year: int) -> str | None:
        """The team the rep's quotas put them in: that of the latest year they have
        quotas for but ``year`` (stored, or set earlier in the batch); None without one."""
        years = {y for k, s, y in self.quotas_service.streams() if k == "rep" and s == rep}
        years |= {y for (k, s, y), q in self.quotas.items() if (k, s) == ("rep", rep) and q}
        years.discard(year)
        if not years:
            return None
        latest: Stream = ("rep", rep, max(years))
        # Read, not kept in ``self.quotas``: a stream kept there skips the reach check.
        quota = self.quotas[latest] if latest in self.quotas else self.quotas_service.find(*latest)
        return None if quota is None else quota.state.team

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
        opening = command if isinstance(command, OpenAccount) else None
        if opening is not None and not self.reaches((opening.owner, opening.team, None)):
            raise OutOfScope(
                f"account '{key}' would be out of your reach: open it with an owner and "
                "team within your scope"
            )
        if key not in self.accounts:
            found = self.accounts_service.find(key)
            if found is not None and not self.reaches(account_reach(found)):
                raise account_taken(key) if opening is not None else unknown_account(key)
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
        if (
            isinstance(command, SetQuota)
            and kind == "rep"
            and command.team is not None  # without one, refused below: give the team
            and self.quotas[stream] is None
            and not self.reaches_everything()
        ):
            # A rep's first quota of a year: a manager could otherwise claim another
            # team's rep. Placing a rep in a team is an admin's decision (docs/access.md).
            team = self.team_by_quotas(subject, stream[2])
            if team is None or not self.reaches((subject, team, None)):
                raise OutOfScope(
                    f"rep '{subject}' is in no team within your reach by their quotas (their "
                    "latest year's): an admin places a rep in a team, with a quota naming it; "
                    "then the team's managers set the rep's quotas"
                )
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
        changed: list[Deal | Account | Quota] = [
            a
            for family in (self.deals, self.accounts, self.quotas)
            for a in family.values()
            if a is not None and a.pending_events
        ]
        if changed:
            self.engine.commit(*changed)
