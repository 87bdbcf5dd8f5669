"""The application service: commands in, guarded events out.

``SalesEngine`` is an eventsourcing ``Application``. It validates nothing itself that
the domain decides; it loads the deal, stamps the command with the engine's clock,
lets the aggregate (and through it the policy's stage guard) accept or refuse it,
and saves the new events atomically. Its batch path lives in ``batch.py`` (driving the
engine through ``DealWriter``), the fall-back sweep in ``sweep.py``, and how each
command lands on a deal in ``deal_dispatch.py``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import (
    ApplicationRecorder,
    Cipher,
    Compressor,
    IntegrityError,
    JSONTranscoder,
    Mapper,
    OperationalError,
    PersistenceError,
    Transcoding,
)
from eventsourcing.utils import get_topic

from salesengine.application.batch import (
    BACKOFF_CAP_SECONDS,
    WRITE_RETRIES,
    BatchRun,
    Ref,
    chunks,
)
from salesengine.application.commands import Command, OpenDeal, command_digest
from salesengine.application.deal_dispatch import dispatch, open_deal
from salesengine.application.history import build_history
from salesengine.application.policy_versions import PolicyVersions
from salesengine.application.ports import (
    ExistenceIndex,
    PersonalKeys,
    PolicySource,
    PositionIndex,
)
from salesengine.application.results import (
    CommandResult,
    DealEvents,
    DealHistory,
    Outcome,
    SweepReport,
)
from salesengine.application.sweep import sweep
from salesengine.domain.account import Account
from salesengine.domain.deal import Deal
from salesengine.domain.errors import (
    CommandIdReused,
    CommandRefused,
    ConcurrencyConflict,
    DealAlreadyExists,
    OutOfScope,
    StoreUnavailable,
    UnknownDeal,
)
from salesengine.domain.eventsourcing_seam import save_aggregates
from salesengine.domain.guard import StageGuard
from salesengine.domain.policy import FunnelPolicy, KeptVersion
from salesengine.domain.quota import Quota
from salesengine.domain.state import DealState
from salesengine.domain.values import (
    Stamp,
    Status,
    deal_id,
)

Clock = Callable[[], datetime]

OPENED_TOPIC = get_topic(Deal.Opened)


# Whether a writer reaches a deal of this owner, team and policy (``Scope.admits``).
Reach = Callable[[str | None, str | None, str | None], bool]


def utc_now() -> datetime:
    return datetime.now(UTC)


class SalesEngine(Application[UUID]):
    name = "salesengine"

    def __init__(
        self,
        catalog: PolicySource,
        *,
        clock: Clock = utc_now,
        default_actor: str = "unknown",
        positions: Callable[[ApplicationRecorder], PositionIndex] | None = None,
        existing: Callable[[ApplicationRecorder], ExistenceIndex] | None = None,
        mapper: Callable[[Compressor | None, Cipher | None], Mapper[UUID]] | None = None,
        transcodings: Iterable[Transcoding] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        """``mapper`` encodes stored events (the library's JSON mapper if None, with the
        given ``transcodings``). Built by ``salesengine.bootstrap.build_engine``."""
        self.catalog = catalog
        self._mapper_factory = mapper
        self._transcodings = list(transcodings)
        self.clock = clock
        self.default_actor = default_actor
        # Opens (and creates) the store: the library's errors pass through, for the
        # composition root to retry a lost creation race and to name the store.
        super().__init__(env=env)
        # Personal data is sealed under its subjects' keys, which the recorder keeps
        # (application/erasure.py); a mapper that cannot seal leaves it None.
        attach = getattr(self.mapper, "attach", None)
        self.personal: PersonalKeys | None = attach(self.recorder) if attach else None
        if self.personal is not None:
            self.recorder.keyring = self.personal  # type: ignore[attr-defined]
        self._positions = positions(self.recorder) if positions is not None else None
        self._existing = existing(self.recorder) if existing is not None else None
        self.versions = PolicyVersions(self.recorder, lambda: self.catalog, self.clock)

    def construct_mapper(self) -> Mapper[UUID]:
        if self._mapper_factory is not None:
            return self._mapper_factory(self.factory.compressor(), self.factory.cipher())
        return super().construct_mapper()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        for transcoding in self._transcodings:
            transcoder.register(transcoding)

    # ------------------------------------------------------------------ writes

    def execute(
        self,
        command: Command,
        *,
        expected_version: int | None = None,
        provenance: dict[str, str] | None = None,
    ) -> CommandResult:
        """Apply one command. Concurrent writers are retried against fresh state; a writer
        that names ``expected_version`` gets ``ConcurrencyConflict`` if the deal moved on."""
        for attempt in range(WRITE_RETRIES):
            if attempt:
                time.sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, 0.002 * 2**attempt)))
            deal = self.find(command.deal)
            if expected_version is not None:
                current = deal.version if deal is not None else 0
                if current != expected_version:
                    raise ConcurrencyConflict(
                        f"deal '{command.deal}' is at version {current}, "
                        f"not {expected_version}: reload and retry"
                    )
            deal, result = self.decide(command, deal, provenance)
            if result.status == "duplicate":
                return result
            try:
                self.commit(deal)
            except ConcurrencyConflict:
                if expected_version is not None:
                    raise
                continue
            return result
        raise ConcurrencyConflict(
            f"deal '{command.deal}' kept changing under {WRITE_RETRIES} attempts; try again"
        )

    def decide_within(
        self,
        command: Command,
        deals: dict[str, Deal | None],
        provenance: dict[str, str] | None,
        now: datetime,
        admits: Reach | None,
    ) -> tuple[Deal, CommandResult]:
        """One command of a batch applied all or nothing (``all_or_nothing.execute_all``),
        on the batch's deals so far (``deals``, by key); nothing is saved here.

        ``admits``: whether the writer reaches a deal of this owner, team and policy
        (its scope, ``Scope.admits``). A stored deal it does not reach is refused as an
        unknown one (an opening under its key as a taken key: keys are one namespace), so
        the refusal tells nothing more of it; a deal that would leave its
        reach by the write (opened for, or handed to, someone outside it) is refused with
        ``OutOfScope``."""
        # An opening is judged on the command before its key is looked up: one out of
        # the writer's reach then says nothing of whether that key exists.
        if (
            isinstance(command, OpenDeal)
            and admits is not None
            and not admits(command.owner, command.team, command.policy)
        ):
            raise OutOfScope(
                f"deal '{command.deal}' would be out of your reach: open it with an "
                "owner, team and policy within your scope"
            )
        if command.deal not in deals:
            found = self.find(command.deal)
            if found is not None and admits is not None and not admits(*_reach(found)):
                if isinstance(command, OpenDeal):
                    # As for one of the writer's own: keys are one namespace, so an
                    # opening under a taken key can only be refused as taken.
                    raise _taken(command.deal)
                raise UnknownDeal(f"unknown deal '{command.deal}': open it first")
            deals[command.deal] = found
        deal, result = self.decide(command, deals[command.deal], provenance, now)
        if admits is not None and not admits(*_reach(deal)):
            raise OutOfScope(
                f"deal '{command.deal}' would be out of your reach after this command "
                f"({command.cmd}): its owner, team and policy must stay within your scope"
            )
        return deal, result

    def execute_many(
        self,
        items: Iterable[tuple[Ref, Command, dict[str, str] | None]],
        *,
        batch_size: int = 1000,
        cache_size: int = 20000,
        group_of: Callable[[Ref], object] | None = None,
    ) -> Iterator[tuple[Ref, Outcome]]:
        """Apply commands in order, saving each batch in one transaction.

        Refused commands are reported and skipped; the rest of the batch still lands.
        If another writer touched a deal of the batch meanwhile, the batch is replayed
        command by command against fresh state, so nothing accepted is lost.

        With ``group_of``, consecutive commands of one deal with the same group (say, one
        source row) apply whole or not at all: once one is refused, the group's earlier
        commands are taken back and its later ones refused with ``GroupRefused``. A
        batch never splits a group.
        """
        run = BatchRun(self, cache_size, group_of)
        for chunk in chunks(iter(items), batch_size, run.group):
            yield from run.apply(chunk)

    # The write path, as the batch runner uses it (``DealWriter``): nothing here saves
    # but ``commit``.

    def absent(self, keys: set[str]) -> set[str]:
        """Keys of deals that do not exist (yet), found in one query; a new deal needs no read.

        If another writer creates one meanwhile, the save conflicts and the batch is replayed.
        """
        if self._existing is None or not keys:
            return set()
        try:
            ids = {deal_id(key): key for key in keys}
            found = self._existing(ids.keys())
        except PersistenceError as e:
            raise StoreUnavailable(f"cannot read the event store: {e}") from None
        return {key for i, key in ids.items() if i not in found}

    def decide(
        self,
        command: Command,
        deal: Deal | None,
        provenance: dict[str, str] | None,
        now: datetime | None = None,
    ) -> tuple[Deal, CommandResult]:
        """Let the aggregate accept or refuse the command; nothing is saved here.
        ``now``: the recorded time of the transaction the command is saved in."""
        now = now or self.clock()
        if deal is not None and deal.modified_on > now:
            # A deal's recorded times never run backwards, even if writers' clocks differ:
            # "known at K" then always sees a prefix of the deal's stream.
            now = deal.modified_on
        # Commands carry UTC instants already: the command language converts them.
        at = command.at if command.at is not None else now
        digest = None if command.id is None else command_digest(command)
        # effective_at, recorded_at, actor, command_id, provenance, command_digest
        # (positional: the hot path)
        stamp = Stamp(at, now, command.by or self.default_actor, command.id, provenance, digest)
        if deal is not None and command.id is not None and deal.has_applied(command.id):
            applied = deal.applied_digest(command.id)
            if applied is not None and applied != digest:
                raise CommandIdReused(
                    f"command id '{command.id}' was already applied to deal '{command.deal}' "
                    "with different content: a retry repeats the command exactly, a new "
                    "command needs a new id"
                )
            return deal, _result(deal, "duplicate", None)
        if isinstance(command, OpenDeal):
            if deal is not None:
                raise _taken(command.deal)
            deal = open_deal(self.catalog, command, stamp)
        else:
            if deal is None:
                raise UnknownDeal(f"unknown deal '{command.deal}': open it first")
            before = deal.version
            dispatch(deal, command, stamp, self.catalog, self.guard_of_version)
            if deal.version == before:  # pragma: no cover - every handler records an event
                raise CommandRefused("command recorded nothing")
        return deal, _result(deal, "applied", type(deal.pending_events[-1]).__name__)

    def find(self, key: str) -> Deal | None:
        """The stored deal, or None if there is none."""
        try:
            deal: object = self.repository.get(deal_id(key))
        except AggregateNotFoundError:
            return None
        except PersistenceError as e:
            raise StoreUnavailable(f"cannot read deal '{key}': {e}") from None
        assert isinstance(deal, Deal)
        return deal

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """The library's save, without its per-object runtime-protocol checks.

        ``isinstance`` against a runtime-checkable Protocol inspects the class on every
        call; for an import saving hundreds of deals per batch it cost more than the
        database did. Deals are collected directly; anything else takes the library path.
        """
        if not all(type(o) is Deal for o in objs):
            return super().save(*objs, **kwargs)
        return save_aggregates(self, objs, **kwargs)

    def commit(self, *aggregates: Deal | Account | Quota) -> None:
        """Save the aggregates' new events (deals, accounts and quotas alike) in one
        transaction; a stale one raises ConcurrencyConflict and nothing is stored.

        A policy version the deals' events were decided under that the store may not
        keep yet is kept in the same transaction."""
        deals = [a for a in aggregates if isinstance(a, Deal)]
        versions = self.versions.to_keep(deals)
        try:
            if versions:
                self.save(*aggregates, policy_versions=versions)
                self.versions.saved(versions)
            else:
                self.save(*aggregates)
        except IntegrityError:
            named = ", ".join(_named(a) for a in aggregates[:5])
            more = " and others" if len(aggregates) > 5 else ""
            raise ConcurrencyConflict(
                f"another writer changed {named}{more} first; nothing of this write was stored"
            ) from None
        except OperationalError as e:
            raise StoreUnavailable(f"the event store refused the write: {e}") from None

    # --------------------------------------------------------- policy versions

    def kept_policy_versions(self) -> list[KeptVersion]:
        """Every policy version the store keeps, by policy and first recorded time."""
        return self.versions.kept()

    def policy_of_version(self, name: str, fingerprint: str) -> FunnelPolicy | None:
        """A policy version: the policy file's if it is that version, else the one the
        store keeps; None if neither has it."""
        return self.versions.policy(name, fingerprint)

    def guard_of_version(self, name: str, fingerprint: str) -> StageGuard | None:
        """The guard of a policy version (a ``GuardLookup``): the policy file's, or one
        built from the version the store keeps; None if neither has it."""
        return self.versions.guard(name, fingerprint)

    def keep_versions_on_disk(self, used: Iterable[tuple[str, str]]) -> list[KeptVersion]:
        """Keep the versions among ``used`` (policy, fingerprint) that the store lacks
        and the policy files hold (the upgrade path of older stores)."""
        return self.versions.keep_on_disk(used)

    # ----------------------------------------------------------------- queries

    def load(self, key: str) -> Deal:
        """The aggregate, for the write side (a command decided on it, then ``commit``)
        and tests; readers take ``deal_events``, ``deal_state`` or ``history``."""
        deal = self.find(key)
        if deal is None:
            raise UnknownDeal(f"unknown deal '{key}'")
        return deal

    def deal_events(self, key: str) -> DealEvents:
        """The deal as data: its events in timeline order and its state."""
        return DealEvents.of(self.load(key))

    def deal_state(
        self, key: str, as_of: datetime | None = None, known_at: datetime | None = None
    ) -> DealState:
        deal = self.load(key)
        if as_of is None and known_at is None:
            return deal.state
        return deal.state_at(as_of or self.clock(), known_at)

    def history(
        self, key: str, as_of: datetime | None = None, known_at: datetime | None = None
    ) -> DealHistory:
        deal = self.load(key)
        now = self.clock()
        positions = self._positions(deal.id) if self._positions is not None else {}
        return build_history(
            DealEvents.of(deal), as_of or now, known_at or now, positions, self.guard_of_version
        )

    def deal_keys(self, page: int = 1000) -> Iterator[str]:
        """Every deal ever opened, in the order they were first recorded."""
        start = 1
        while True:
            notifications = self.recorder.select_notifications(start, page, topics=[OPENED_TOPIC])
            for n in notifications:
                event = self.mapper.to_domain_event(n)
                assert isinstance(event, Deal.Opened)
                yield event.deal
            if len(notifications) < page:
                return
            start = notifications[-1].id + 1

    # --------------------------------------------------------------- policies

    def sweep(self, at: datetime | None = None, actor: str = "sweep") -> SweepReport:
        """Run the fall-back rule over every open deal as it stood at ``at`` (see
        ``application.sweep``)."""
        return sweep(self, at, actor)


def _taken(key: str) -> DealAlreadyExists:
    return DealAlreadyExists(
        f"deal '{key}' already exists: record what changed with the other commands "
        "(advance, fact, ...), or open a new deal under another key"
    )


def _named(aggregate: Deal | Account | Quota) -> str:
    """An aggregate as a conflict names it: a deal by its key, as before accounts."""
    if isinstance(aggregate, Deal):
        return f"'{aggregate.state.key}'"
    if isinstance(aggregate, Account):
        return f"account '{aggregate.state.key}'"
    s = aggregate.state
    return f"the quotas of {s.kind} '{s.subject}' {s.year}"


def _reach(deal: Deal) -> tuple[str | None, str | None, str | None]:
    """What a writer's scope is judged on: the deal's current owner, team and policy."""
    s = deal.state
    return s.owner, s.team, s.policy


def _result(deal: Deal, status: str, event: str | None) -> CommandResult:
    state = deal.state
    position = state.stage if state.status is Status.OPEN else state.status.value
    # deal, status, event, version, position (positional: one result per imported line)
    return CommandResult(
        state.key, "applied" if status == "applied" else "duplicate", event, deal.version, position
    )
