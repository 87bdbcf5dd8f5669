"""The quota service: quota commands in, ``Quota`` events out, and quotas read as of T,
known at K (docs/quotas.md; the V value's use of them in docs/metrics.md).

Quotas live in the engine's own event store, saved through the engine (an eventsourcing
``Application``) like deals, one stream per subject and year (``domain/quota.py``).
Reads fold a stream on every read: a store holds a handful of streams per rep and year,
and listing them reads only their openings (one indexed query by topic).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import PersistenceError
from eventsourcing.utils import get_topic

from salesengine.application.commands import command_digest
from salesengine.application.engine import SalesEngine
from salesengine.application.quota_commands import ClearQuota, QuotaCommand, SetQuota
from salesengine.application.quota_figures import (
    QuotaFigure,
    QuotaView,
    quota_figures,
    quota_view,
)
from salesengine.application.retries import retry_on_conflict
from salesengine.domain.errors import (
    CommandIdReused,
    CommandRefused,
    StoreUnavailable,
)
from salesengine.domain.quota import (
    Quota,
    QuotaEvent,
    QuotaPeriod,
    SubjectKind,
    quota_id,
)
from salesengine.domain.values import Stamp

OPENED_TOPIC = get_topic(Quota.Opened)


@dataclass(frozen=True, slots=True)
class QuotaResult:
    kind: SubjectKind
    subject: str
    year: int
    period: str
    status: str  # applied or duplicate
    event: str | None
    version: int


@dataclass(frozen=True, slots=True)
class QuotaChange:
    """One event of a subject-year's stream, as ``quota show`` lists it."""

    version: int
    type: str
    effective_at: datetime
    recorded_at: datetime
    actor: str
    command_id: str | None
    period: str | None
    amount: Decimal | None
    currency: str | None
    parts: dict[str, Decimal]
    team: str | None
    reason: str | None


class Quotas:
    """Quota commands and reads on the engine's store."""

    def __init__(self, engine: SalesEngine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ writes

    def execute(
        self, command: QuotaCommand, *, provenance: dict[str, str] | None = None
    ) -> QuotaResult:
        """Apply one quota command; a concurrent writer's change is retried against fresh
        state. Refusals raise ``CommandRefused`` and store nothing."""

        def once() -> QuotaResult:
            period = command.quota_period
            quota = self.find(command.kind, command.subject, period.year)
            quota, result = self.decide(command, quota, provenance)
            if result.status == "duplicate":
                return result
            self.engine.commit(quota)  # another writer first: decided again
            return result

        return retry_on_conflict(once, f"the quotas of {command.stream}")

    def decide(
        self,
        command: QuotaCommand,
        quota: Quota | None,
        provenance: dict[str, str] | None,
        now: datetime | None = None,
    ) -> tuple[Quota, QuotaResult]:
        """Let the subject-year's stream accept or refuse the command; nothing is saved
        here. ``now``: the recorded time of the transaction the command is saved in."""
        now = now or self.engine.clock()
        if quota is not None and quota.modified_on > now:
            now = quota.modified_on  # recorded times never run backwards in a stream
        at = command.at if command.at is not None else now
        digest = None if command.id is None else command_digest(command)
        stamp = Stamp(
            at, now, command.by or self.engine.default_actor, command.id, provenance, digest
        )
        period = command.quota_period
        if quota is not None and quota.has_applied(command.id):
            assert command.id is not None
            applied = quota.applied_digest(command.id)
            if applied is not None and applied != digest:
                raise CommandIdReused(
                    f"command id '{command.id}' was already applied to the quotas of "
                    f"{command.stream} with different content: a retry repeats the command "
                    "exactly, a new command needs a new id"
                )
            return quota, self._result(command, quota, "duplicate")
        if isinstance(command, SetQuota):
            currency = command.currency or (quota.currency if quota is not None else None)
            if currency is None:
                raise CommandRefused(
                    f"the first quota of {command.stream} needs its currency: give it "
                    "(currency, --currency on the command line)"
                )
            if quota is None:
                quota = Quota.open(
                    kind=command.kind, subject=command.subject, year=period.year, stamp=stamp
                )
            team = command.team if command.kind == "rep" else None
            quota.set_target(period, command.amount, currency, command.chosen_split(), team, stamp)
        else:
            assert isinstance(command, ClearQuota)
            if quota is None:
                raise no_quotas(command)
            quota.clear_target(period, command.reason, stamp)
        return quota, self._result(command, quota, "applied")

    @staticmethod
    def _result(command: QuotaCommand, quota: Quota, status: str) -> QuotaResult:
        event = type(quota.pending_events[-1]).__name__ if status == "applied" else None
        return QuotaResult(
            command.kind,
            command.subject,
            command.quota_period.year,
            command.period,
            status,
            event,
            quota.version,
        )

    # ------------------------------------------------------------------- reads

    def find(self, kind: SubjectKind, subject: str, year: int) -> Quota | None:
        """The subject-year's stream, or None if it has none."""
        try:
            found: object = self.engine.repository.get(quota_id(kind, subject, year))
        except AggregateNotFoundError:
            return None
        except PersistenceError as e:
            raise StoreUnavailable(f"cannot read the quotas of {kind} '{subject}': {e}") from None
        assert isinstance(found, Quota)
        return found

    def streams(self, page: int = 1000) -> Iterator[tuple[SubjectKind, str, int]]:
        """Every subject-year with quotas, in the order they were first recorded."""
        recorder, mapper = self.engine.recorder, self.engine.mapper
        start = 1
        while True:
            try:
                found = recorder.select_notifications(start, page, topics=[OPENED_TOPIC])
            except PersistenceError as e:
                raise StoreUnavailable(f"cannot read the event store: {e}") from None
            for n in found:
                event = mapper.to_domain_event(n)
                assert isinstance(event, Quota.Opened)
                yield ("team" if event.kind == "team" else "rep"), event.subject, event.year
            if len(found) < page:
                return
            start = found[-1].id + 1

    def views(
        self,
        as_of: datetime,
        known_at: datetime | None = None,
        *,
        year: int | None = None,
        keep: Callable[[SubjectKind, str], bool] | None = None,
    ) -> list[QuotaView]:
        """Each subject-year's quotas as of T, known at K (reps, then teams, by name);
        those with nothing in force then are left out. ``keep``: read only the streams
        of the subjects it keeps (a principal's, access/quota_scope.py)."""
        found = []
        for kind, subject, y in sorted(set(self.streams()), key=_stream_order):
            if (year is not None and y != year) or (keep is not None and not keep(kind, subject)):
                continue
            quota = self.find(kind, subject, y)
            if quota is None:  # pragma: no cover - listed streams exist
                continue
            view = quota_view(quota.state_at(as_of, known_at))
            if view.targets or view.team is not None:
                found.append(view)
        return found

    def view(
        self, kind: SubjectKind, subject: str, year: int, as_of: datetime, known_at: datetime | None
    ) -> QuotaView | None:
        quota = self.find(kind, subject, year)
        return None if quota is None else quota_view(quota.state_at(as_of, known_at))

    def changes(
        self, kind: SubjectKind, subject: str, year: int, known_at: datetime | None = None
    ) -> list[QuotaChange]:
        """The stream's events recorded by K, in timeline order (effective time, then
        version): what was set and cleared, when, and by whom."""
        quota = self.find(kind, subject, year)
        if quota is None:
            return []
        return [_change(e) for e in quota.timeline if known_at is None or e.timestamp <= known_at]

    def figures(
        self, period: str, as_of: datetime, known_at: datetime | None = None
    ) -> list[QuotaFigure]:
        """Every rep's and team's quota for the period as of T, known at K: each subject
        with a stream for its year; a team with no quota of its own for the period gets
        the sum of the quotas for it of the reps whose quotas add up to the team
        (docs/metrics.md, "V value")."""
        chosen = QuotaPeriod.parse(period)
        views = self.views(as_of, known_at, year=chosen.year)
        return quota_figures(views, chosen.name)


def no_quotas(command: QuotaCommand) -> CommandRefused:
    return CommandRefused(f"{command.stream} has no quotas: nothing to clear for {command.period}")


def _stream_order(stream: tuple[SubjectKind, str, int]) -> tuple[int, str, int]:
    kind, subject, year = stream
    return (0 if kind == "rep" else 1, subject, year)


def _change(event: QuotaEvent) -> QuotaChange:
    set_ = event if isinstance(event, Quota.TargetSet) else None
    cleared = event if isinstance(event, Quota.TargetCleared) else None
    period = set_.period if set_ else cleared.period if cleared else None
    return QuotaChange(
        version=event.originator_version,
        type=type(event).__name__,
        effective_at=event.effective_at,
        recorded_at=event.timestamp,
        actor=event.actor,
        command_id=event.command_id,
        period=period,
        amount=set_.amount if set_ else None,
        currency=set_.currency if set_ else None,
        parts={k: Decimal(v) for k, v in set_.parts.items()} if set_ else {},
        team=set_.team if set_ else None,
        reason=cleared.reason if cleared else None,
    )
