"""The application service: commands in, guarded events out.

``SalesEngine`` is an eventsourcing ``Application``. It validates nothing itself that
the domain decides; it loads the deal, stamps the command with the engine's clock,
lets the aggregate (and through it the policy's stage guard) accept or refuse it,
and saves the new events atomically.
"""

from __future__ import annotations

import random
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import islice
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import (
    ApplicationRecorder,
    Cipher,
    Compressor,
    IntegrityError,
    InternalError,
    JSONTranscoder,
    Mapper,
    OperationalError,
    PersistenceError,
    Transcoding,
)
from eventsourcing.utils import get_topic

from salesengine.application.commands import (
    Abandon,
    Advance,
    ChangeAmount,
    ChangeExpectedClose,
    ChangeOwner,
    Command,
    CompleteNextStep,
    LogVisit,
    MarkLost,
    MarkWon,
    OpenDeal,
    RecordFact,
    Regress,
    Reopen,
    RetractFact,
    SetNextStep,
    command_digest,
)
from salesengine.application.history import build_history
from salesengine.application.policy_versions import PolicyVersions
from salesengine.application.results import (
    CommandResult,
    DealHistory,
    FallenBack,
    SweepReport,
)
from salesengine.domain.deal import Deal
from salesengine.domain.errors import (
    CommandIdReused,
    CommandRefused,
    ConcurrencyConflict,
    DealAlreadyExists,
    GroupRefused,
    InvalidTime,
    SalesEngineError,
    StoreUnavailable,
    UnknownDeal,
    UnknownPolicy,
)
from salesengine.domain.guard import StageGuard
from salesengine.domain.policy import FunnelPolicy, KeptVersion
from salesengine.domain.state import DealState
from salesengine.domain.values import (
    CLOCK_SKEW,
    NextStep,
    Stamp,
    Status,
    as_utc,
    deal_id,
    end_of_day,
)
from salesengine.policies.catalog import PolicyCatalog
from salesengine.policies.fallback import decide_fallback

Clock = Callable[[], datetime]
Ref = TypeVar("Ref")

# Concurrent writers to one deal retry this often, backing off with jitter so that a
# hot deal's writers spread out instead of colliding again in lock step.
WRITE_RETRIES = 20
BACKOFF_CAP_SECONDS = 0.25
SCHEMA_RACE_RETRIES = 5
OPENED_TOPIC = get_topic(Deal.Opened)


def utc_now() -> datetime:
    return datetime.now(UTC)


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class ExistenceIndex(Protocol):
    """Tells which of many deals exist, in one round trip."""

    def __call__(self, ids: Collection[UUID]) -> set[UUID]: ...


class PositionIndex(Protocol):
    """Finds the global (notification log) position of each event of one deal."""

    def __call__(self, originator_id: UUID) -> Mapping[int, int]: ...


@dataclass(frozen=True, slots=True)
class Refused:
    """A command the engine did not accept, with the domain's reason."""

    error: SalesEngineError

    @property
    def code(self) -> str:
        return self.error.code

    @property
    def message(self) -> str:
        return self.error.message


Outcome = CommandResult | Refused


class SalesEngine(Application[UUID]):
    name = "salesengine"

    def __init__(
        self,
        catalog: PolicyCatalog,
        *,
        clock: Clock = utc_now,
        default_actor: str = "unknown",
        positions: Callable[[ApplicationRecorder], PositionIndex] | None = None,
        existing: Callable[[ApplicationRecorder], ExistenceIndex] | None = None,
        mapper: Callable[[Compressor | None, Cipher | None], Mapper[UUID]] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.catalog = catalog
        self._mapper_factory = mapper
        self.clock = clock
        self.default_actor = default_actor
        for attempt in range(SCHEMA_RACE_RETRIES):
            try:
                super().__init__(env=env)
                break
            except (IntegrityError, InternalError):
                # Engines starting together race on CREATE TABLE IF NOT EXISTS in
                # PostgreSQL; the loser finds the tables on its next try.
                if attempt == SCHEMA_RACE_RETRIES - 1:
                    raise StoreUnavailable("cannot create the event store tables") from None
                time.sleep(random.uniform(0.01, 0.1))
            except PersistenceError as e:
                raise StoreUnavailable(f"cannot open the event store: {e}") from None
        self._positions = positions(self.recorder) if positions is not None else None
        self._existing = existing(self.recorder) if existing is not None else None
        self.versions = PolicyVersions(self.recorder, lambda: self.catalog, self.clock)

    def construct_mapper(self) -> Mapper[UUID]:
        if self._mapper_factory is not None:
            return self._mapper_factory(self.factory.compressor(), self.factory.cipher())
        return super().construct_mapper()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

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
            deal = self._find(command.deal)
            if expected_version is not None:
                current = deal.version if deal is not None else 0
                if current != expected_version:
                    raise ConcurrencyConflict(
                        f"deal '{command.deal}' is at version {current}, "
                        f"not {expected_version}: reload and retry"
                    )
            deal, result = self._decide(command, deal, provenance)
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
        run = _BatchRun(self, cache_size, group_of)
        for chunk in _chunks(iter(items), batch_size, run.group):
            yield from run.apply(chunk)

    def _absent(self, keys: set[str]) -> set[str]:
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

    def _decide(
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
                raise DealAlreadyExists(
                    f"deal '{command.deal}' already exists: record what changed with the other "
                    "commands (advance, fact, ...), or open a new deal under another key"
                )
            deal = self._open(command, stamp)
        else:
            if deal is None:
                raise UnknownDeal(f"unknown deal '{command.deal}': open it first")
            before = deal.version
            self._dispatch(deal, command, stamp)
            if deal.version == before:  # pragma: no cover - every handler records an event
                raise CommandRefused("command recorded nothing")
        return deal, _result(deal, "applied", type(deal.pending_events[-1]).__name__)

    def _open(self, command: OpenDeal, stamp: Stamp) -> Deal:
        guard = self.catalog.guard(command.policy)
        currency = command.currency or (
            guard.policy.currency if command.amount is not None else None
        )
        return Deal.open(
            id=deal_id(command.deal),
            key=command.deal,
            guard=guard,
            stamp=stamp,
            facts=command.facts,
            account=command.account,
            owner=command.owner,
            team=command.team,
            region=command.region,
            amount=command.amount,
            currency=currency,
            expected_close=command.expected_close,
        )

    def _dispatch(self, deal: Deal, command: Command, stamp: Stamp) -> None:
        state = deal.state
        match command:
            case RecordFact(name=name, value=value):
                deal.record_fact(name, value, stamp, guards=self.guard_of_version)
            case RetractFact(name=name, reason=reason):
                deal.retract_fact(name, reason, stamp, guards=self.guard_of_version)
            case Advance(to=to):
                deal.advance(self.catalog.guard(state.policy), to, stamp)
            case Regress(to=to, reason=reason):
                deal.regress(self.catalog.guard(state.policy), to, reason, stamp)
            case LogVisit():
                deal.log_visit(
                    command.kind, command.effective, command.attendees, command.note, stamp
                )
            case SetNextStep(action=action, due=due, owner=owner):
                step = _next_step(action, due, owner, deal.state_at(stamp.effective_at), stamp)
                deal.set_next_step(
                    step.action, step.due, step.owner, stamp, guards=self.guard_of_version
                )
            case CompleteNextStep(note=note):
                deal.complete_next_step(note, stamp, guards=self.guard_of_version)
            case ChangeAmount(amount=amount, currency=currency):
                if currency is None:
                    # A backdated amount keeps the currency the deal had at its own date.
                    stood = deal.state_at(stamp.effective_at).currency
                    currency = stood or self.catalog.get(state.policy).currency
                deal.change_amount(amount, currency, stamp)
            case ChangeExpectedClose(expected_close=expected_close):
                deal.change_expected_close(expected_close, stamp)
            case ChangeOwner(owner=owner, team=team, region=region):
                deal.change_owner(owner, team, region, stamp)
            case MarkWon():
                deal.win(self.catalog.guard(state.policy), stamp)
            case MarkLost(reason=reason, competitor=competitor):
                deal.lose(self.catalog.guard(state.policy), reason, competitor, stamp)
            case Abandon(reason=reason):
                deal.abandon(self.catalog.guard(state.policy), reason, stamp)
            case Reopen(to=to, reason=reason, next_step=given):
                brought = (
                    None
                    if given is None
                    else _next_step(
                        given.action,
                        given.due,
                        given.owner,
                        deal.state_at(stamp.effective_at),
                        stamp,
                    )
                )
                deal.reopen(self.catalog.guard(state.policy), to, reason, stamp, brought)
            case _:  # pragma: no cover - the union is exhaustive
                raise CommandRefused(f"unsupported command {command.cmd}")

    def _find(self, key: str) -> Deal | None:
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
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        for deal in objs:
            processing.events.extend(deal.collect_events())
            processing.aggregates[deal.id] = deal
        processing.saved_kwargs.update(kwargs)
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        return recordings

    def commit(self, *deals: Deal) -> None:
        """Save the deals' new events atomically; a stale deal raises ConcurrencyConflict.

        A policy version the events were decided under that the store may not keep yet
        is kept in the same transaction."""
        versions = self.versions.to_keep(deals)
        try:
            if versions:
                self.save(*deals, policy_versions=versions)
                self.versions.saved(versions)
            else:
                self.save(*deals)
        except IntegrityError:
            raise ConcurrencyConflict(
                "another writer changed "
                + ", ".join(f"'{d.state.key}'" for d in deals[:5])
                + (" and others" if len(deals) > 5 else "")
                + " first; nothing of this write was stored"
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
        deal = self._find(key)
        if deal is None:
            raise UnknownDeal(f"unknown deal '{key}'")
        return deal

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
        return build_history(deal, as_of or now, known_at or now, positions, self.guard_of_version)

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
        """Run the fall-back rule over every open deal as it stood at ``at``.

        Idempotent: a deal that already fell back no longer breaks the rule, and each
        fall-back carries a command id derived from the deal and the breach time.
        """
        now = self.clock()
        at = as_utc(at) if at is not None else now
        if at > now + CLOCK_SKEW:
            raise InvalidTime(f"cannot sweep at {at.isoformat()}: it is in the future")
        report = SweepReport(at=at)
        for key in self.deal_keys():
            deal = self.load(key)
            state = deal.state_at(at)
            if state.status is not Status.OPEN:
                continue
            try:
                policy = self.catalog.get(state.policy)
            except UnknownPolicy as e:
                report.not_applicable.append((key, e.message))
                continue
            if policy.fallback is None:
                continue
            report.examined += 1
            if not policy.has_stage(state.stage):
                report.not_applicable.append(
                    (key, f"stage '{state.stage}' is no longer in policy '{policy.name}'")
                )
                continue
            decision = decide_fallback(policy, state, at)
            if decision is None:
                report.unchanged += 1
                continue
            command = Regress(
                cmd="regress",
                id=f"sweep:{key}:{decision.effective_at.isoformat()}",
                deal=key,
                at=decision.effective_at,
                by=actor,
                to=decision.to,
                reason=decision.reason,
            )
            try:
                result = self.execute(command)
            except CommandRefused as e:
                report.not_applicable.append((key, e.message))
                continue
            if result.status == "applied":
                report.fell_back.append(
                    FallenBack(key, state.stage, decision.to, decision.effective_at)
                )
            else:
                report.unchanged += 1
        return report


def _next_step(
    action: str, due: date | datetime, owner: str | None, state: DealState, stamp: Stamp
) -> NextStep:
    """A date-only due means the end of that day; the owner defaults to the deal's owner
    (as the deal stood at the step's effective time), then the actor."""
    due_at = due if isinstance(due, datetime) else end_of_day(due)
    return NextStep(action, due_at, owner or state.owner or stamp.actor, stamp.effective_at)


def _result(deal: Deal, status: str, event: str | None) -> CommandResult:
    state = deal.state
    position = state.stage if state.status is Status.OPEN else state.status.value
    # deal, status, event, version, position (positional: one result per imported line)
    return CommandResult(
        state.key, "applied" if status == "applied" else "duplicate", event, deal.version, position
    )


Item = tuple[Ref, Command, dict[str, str] | None]


def _chunks(
    items: Iterator[Item[Ref]],
    size: int,
    group: Callable[[Ref, Command], object | None],
) -> Iterator[list[Item[Ref]]]:
    """Batches of about ``size`` commands, each extended to the end of its last group."""
    pending: list[Item[Ref]] = []
    while True:
        chunk = pending + list(islice(items, size))
        pending = []
        if not chunk:
            return
        last = group(chunk[-1][0], chunk[-1][1])
        if last is not None:
            for item in items:
                if group(item[0], item[1]) != last:
                    pending = [item]
                    break
                chunk.append(item)
        yield chunk


class _Stale(Exception):
    """A batch decided on a cached deal that the store has moved past."""


class _BatchRun(Generic[Ref]):
    """The state of one ``execute_many``: cached deals, the batch being decided, and the
    group (if any) refused last."""

    def __init__(
        self,
        engine: SalesEngine,
        cache_size: int,
        group_of: Callable[[Ref], object] | None,
    ) -> None:
        self.engine = engine
        self.cache_size = cache_size
        self.group_of = group_of
        self.cache: OrderedDict[str, Deal] = OrderedDict()
        self.batch: list[Item[Ref]] = []
        self.outcomes: list[tuple[Ref, Outcome]] = []
        self.touched: dict[UUID, Deal] = {}
        self.absent: set[str] = set()  # keys of this batch known not to exist yet
        self.failed: tuple[str, object] | None = None  # (deal, group) refused last
        self.current: tuple[str, object] | None = None  # the group being decided
        self.start = 0  # where in the batch the current group began
        # One recorded time per transaction: "known at K" shows all of a saved batch
        # (a source row's commands among them) or none of it.
        self.now: datetime | None = None

    def group(self, ref: Ref, command: Command) -> tuple[str, object] | None:
        return None if self.group_of is None else (command.deal, self.group_of(ref))

    def reset(self) -> list[Item[Ref]]:
        """Forget the batch's decisions and its deals' cached copies; the batch's items."""
        batch = list(self.batch)
        for _, command, _ in batch:
            self.cache.pop(command.deal, None)
        self.batch.clear()
        self.outcomes.clear()
        self.touched.clear()
        self.failed = self.current = None
        return batch

    def apply(self, chunk: list[Item[Ref]], attempt: int = 0) -> Iterator[tuple[Ref, Outcome]]:
        engine = self.engine
        self.now = engine.clock()
        self.absent = engine._absent({c.deal for _, c, _ in chunk if c.deal not in self.cache})
        try:
            for ref, command, provenance in chunk:
                member = self.group(ref, command)
                if member != self.current:
                    self.current, self.start = member, len(self.batch)
                self.batch.append((ref, command, provenance))
                if member is not None and member == self.failed:
                    self.outcomes.append((ref, Refused(_group_refused())))
                    continue
                outcome = self.decide(command, provenance)
                self.outcomes.append((ref, outcome))
                if member is not None and isinstance(outcome, Refused):
                    self.failed = member
                    self.take_back(command.deal)
        except _Stale:
            # An undone group showed a cached deal out of date: decide the whole batch
            # again on what the store holds.
            yield from self.retry(chunk, attempt)
            return
        yield from self.flush(chunk, attempt)

    def retry(self, chunk: list[Item[Ref]], attempt: int) -> Iterator[tuple[Ref, Outcome]]:
        self.reset()
        if attempt < WRITE_RETRIES:
            time.sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, 0.01 * 2**attempt)))
            yield from self.apply(chunk, attempt + 1)
        else:
            yield from self.one_group_at_a_time(chunk)

    def flush(self, chunk: list[Item[Ref]], attempt: int) -> Iterator[tuple[Ref, Outcome]]:
        try:
            self.engine.commit(*self.touched.values())
        except ConcurrencyConflict:
            # Another writer moved a deal of the batch: decide the batch again on fresh
            # state, groups and all; after too many tries, one group at a time.
            yield from self.retry(chunk, attempt)
            return
        yield from self.outcomes
        self.batch.clear()
        self.outcomes.clear()
        self.touched.clear()
        self.current = None
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)

    def one_group_at_a_time(self, chunk: list[Item[Ref]]) -> Iterator[tuple[Ref, Outcome]]:
        """The last resort of a contended batch: each group (or command) decided on the
        stored deal and saved whole, retried on conflict like a single write."""
        index = 0
        while index < len(chunk):
            member = self.group(chunk[index][0], chunk[index][1])
            end = index + 1
            while member is not None and end < len(chunk):
                if self.group(chunk[end][0], chunk[end][1]) != member:
                    break
                end += 1
            yield from self.one_group(chunk[index:end])
            index = end

    def one_group(self, items: list[Item[Ref]]) -> Iterator[tuple[Ref, Outcome]]:
        engine = self.engine
        key = items[0][1].deal
        outcomes: list[tuple[Ref, Outcome]] = []
        for _ in range(WRITE_RETRIES):
            deal, outcomes, refused = engine._find(key), [], False
            now = engine.clock()  # the group's transaction
            for ref, command, provenance in items:
                if refused:
                    outcomes.append((ref, Refused(_group_refused())))
                    continue
                try:
                    deal, result = engine._decide(command, deal, provenance, now)
                    outcomes.append((ref, result))
                except SalesEngineError as e:
                    refused = True
                    outcomes = [(r, Refused(_group_refused())) for r, _ in outcomes]
                    outcomes.append((ref, Refused(e)))
            if refused or deal is None or not deal.pending_events:
                break
            try:
                engine.commit(deal)
                break
            except ConcurrencyConflict:
                time.sleep(random.uniform(0, BACKOFF_CAP_SECONDS))
        else:
            conflict = ConcurrencyConflict(
                f"deal '{key}' kept changing under {WRITE_RETRIES} attempts; try again"
            )
            outcomes = [(ref, Refused(conflict)) for ref, _, _ in items]
        self.cache.pop(key, None)
        yield from outcomes

    def decide(self, command: Command, provenance: dict[str, str] | None) -> Outcome:
        engine, cache = self.engine, self.cache
        cached = cache.get(command.deal)
        try:
            if cached is not None:
                deal = cached
            elif command.deal in self.absent:
                deal = None
            else:
                deal = engine._find(command.deal)
            try:
                deal, result = engine._decide(command, deal, provenance, self.now)
            except CommandRefused:
                # A copy cached from an earlier batch may be stale: another writer may
                # have supplied what was missing. Judge again on the stored deal.
                if cached is None or cached.id in self.touched:
                    raise
                fresh = engine._find(command.deal)
                if fresh is None or fresh.version == cached.version:
                    raise
                cache[command.deal] = fresh
                deal, result = engine._decide(command, fresh, provenance, self.now)
        except SalesEngineError as e:
            return Refused(e)
        cache[command.deal] = deal
        cache.move_to_end(command.deal)
        if result.status == "applied":
            self.touched[deal.id] = deal
        return result

    def take_back(self, key: str) -> None:
        """Undo the current group's accepted commands: the deal is rebuilt from the
        store with the batch's other accepted commands. (Its cost grows with the deal's
        accepted commands in the batch, paid only when a group is refused midway.)"""
        batch, outcomes = self.batch, self.outcomes
        undone = False
        for index in range(self.start, len(batch) - 1):  # the group, but its refused last
            result = outcomes[index][1]
            if isinstance(result, CommandResult):  # applied, or there already
                outcomes[index] = (batch[index][0], Refused(_group_refused()))
                undone = undone or result.status == "applied"
        if not undone:
            return
        deal = self.cache.pop(key, None)
        if deal is not None:
            self.touched.pop(deal.id, None)
        rebuilt = None if key in self.absent else self.engine._find(key)
        for index, (ref, command, provenance) in enumerate(batch):
            if command.deal == key and _applied(outcomes[index][1]):
                try:
                    rebuilt, result = self.engine._decide(command, rebuilt, provenance)
                except SalesEngineError:
                    raise _Stale from None  # it was accepted on a copy the store moved past
                outcomes[index] = (ref, result)
        if rebuilt is not None:
            self.cache[key] = rebuilt
            if rebuilt.pending_events:
                self.touched[rebuilt.id] = rebuilt


def _applied(outcome: Outcome) -> bool:
    return isinstance(outcome, CommandResult) and outcome.status == "applied"


def _group_refused() -> GroupRefused:
    return GroupRefused("not applied: another command of its row was refused")
