"""The Quota aggregate: a rep's or a team's sales targets for one year, as events.

**Boundary.** One aggregate per subject (a rep or a team, by name) and calendar year:
the year's target, its quarters' and its months' live together, because a yearly target
broken into periods is one decision, and the rule that a subject-year keeps one currency
must be checked against every quota of that year. Streams stay small (a year of
changes), and another year is another stream, free to use another currency.

**Events.** ``Opened`` names the subject and the year; ``TargetSet`` sets one period's
amount and, when the period was broken down, the amount of each part (its quarters or
months) in the same event; ``TargetCleared`` takes one period's amount away. A changed
quota is a new ``TargetSet``: the earlier one stays in the stream, so a read known at K
before the change still sees it. Events carry the same envelope as a deal's (effective
time, actor, command id, provenance, command digest; the recorded time is the stored
timestamp), and the quota as of T known at K is the fold of the events effective at or
before T and recorded at or before K, in timeline order (effective time, then version).

**Breakdown.** ``breakdown`` divides an amount evenly into the period's quarters or
months at the amount's own precision (cents, or the ten-thousandths an amount may have);
what does not divide evenly goes one unit each to the earliest parts, so the parts always
sum exactly to the whole. Amounts given per part must sum exactly to it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from types import MappingProxyType
from typing import Any, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from salesengine.domain.errors import CommandRefused
from salesengine.domain.eventsourcing_seam import append_new_event, create_aggregate
from salesengine.domain.stamping import check_not_future, stamp_fields, stamped_event
from salesengine.domain.values import Stamp

SubjectKind = Literal["rep", "team"]
SUBJECT_KINDS: tuple[SubjectKind, ...] = ("rep", "team")
Unit = Literal["year", "quarter", "month"]
# How a period is broken into parts: not at all, evenly into quarters or months, or by
# amounts given for each part in order.
Split = Literal["none", "quarterly", "monthly"] | tuple[Decimal, ...]

# Quota ids derive from the subject and the year, so one subject-year is one stream.
QUOTA_NAMESPACE = uuid5(NAMESPACE_URL, "salesengine:quota")

PERIOD_SYNTAX = "YYYY, YYYY-Qn or YYYY-MM"
_YEAR = re.compile(r"(\d{4})")
_QUARTER = re.compile(r"(\d{4})-[Qq]([1-4])")
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


def quota_id(kind: SubjectKind, subject: str, year: int) -> UUID:
    """The stream of one subject's quotas for one year."""
    return uuid5(QUOTA_NAMESPACE, f"{kind}\x1f{subject}\x1f{year:04d}")


class MixedCurrency(CommandRefused):
    """A quota in another currency than the subject-year's other quotas."""

    code = "mixed_currency"


class BadBreakdown(CommandRefused):
    """A breakdown that does not fit the period (parts it lacks, or amounts that do not
    sum to the whole)."""

    code = "bad_breakdown"


class NoQuota(CommandRefused):
    """A period cleared that holds no quota at that time."""

    code = "no_quota"


@dataclass(frozen=True, slots=True, order=True)
class QuotaPeriod:
    """A year, quarter or month of the calendar, named as the reports name periods."""

    year: int
    unit_rank: int  # 0 year, 1 quarter, 2 month: a year sorts before its quarters
    index: int  # 0 for a year, 1-4 for a quarter, 1-12 for a month

    @property
    def unit(self) -> Unit:
        units: tuple[Unit, ...] = ("year", "quarter", "month")
        return units[self.unit_rank]

    @property
    def name(self) -> str:
        if self.unit_rank == 0:
            return f"{self.year:04d}"
        if self.unit_rank == 1:
            return f"{self.year:04d}-Q{self.index}"
        return f"{self.year:04d}-{self.index:02d}"

    @classmethod
    def parse(cls, text: str) -> QuotaPeriod:
        """A period from its name; ValueError says what is wrong."""
        value = text.strip()
        if m := _YEAR.fullmatch(value):
            return cls(int(m[1]), 0, 0)
        if m := _QUARTER.fullmatch(value):
            return cls(int(m[1]), 1, int(m[2]))
        if m := _MONTH.fullmatch(value):
            return cls(int(m[1]), 2, int(m[2]))
        raise ValueError(f"{text!r} is not a quota period ({PERIOD_SYNTAX})")

    def months(self) -> range:
        """The months (1-12) the period covers."""
        if self.unit_rank == 0:
            return range(1, 13)
        if self.unit_rank == 1:
            return range(3 * self.index - 2, 3 * self.index + 1)
        return range(self.index, self.index + 1)

    def parts(self, unit: Unit) -> list[QuotaPeriod]:
        """The quarters or months of the period, in order (ValueError if it has none)."""
        if unit == "quarter" and self.unit_rank == 0:
            return [QuotaPeriod(self.year, 1, q) for q in range(1, 5)]
        if unit == "month" and self.unit_rank < 2:
            return [QuotaPeriod(self.year, 2, m) for m in self.months()]
        raise ValueError(f"{self.name} is not made of {unit}s")


def _unit_of(amount: Decimal) -> Decimal:
    """The smallest unit the amount is written in: a cent, or the ten-thousandth that an
    amount may go down to."""
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)  # amounts are finite
    return Decimal("0.01") if exponent >= -2 else Decimal("0.0001")


def in_cents(amount: Decimal) -> Decimal:
    """The amount written to the cent (``13000000`` as ``13000000.00``), as its parts are
    and as the reports' money is, so that one document shows one form; an amount given in
    ten-thousandths keeps them."""
    return amount.quantize(_unit_of(amount))


def even_parts(amount: Decimal, count: int) -> list[Decimal]:
    """``amount`` in ``count`` parts as even as its unit allows, the remainder one unit
    each to the earliest parts: they sum exactly to ``amount``."""
    unit = _unit_of(amount)
    base = (amount / count).quantize(unit, rounding=ROUND_FLOOR)
    left = int((amount - base * count) / unit)
    return [base + unit if n < left else base for n in range(count)]


def breakdown(period: QuotaPeriod, amount: Decimal, split: Split) -> dict[str, Decimal]:
    """The amount of each part of the period under ``split`` (empty for ``none``)."""
    if split == "none":
        return {}
    if isinstance(split, str):
        unit: Unit = "quarter" if split == "quarterly" else "month"
        try:
            parts = period.parts(unit)
        except ValueError:
            raise BadBreakdown(
                f"{period.name} cannot be split {split}: a year splits quarterly or "
                "monthly, a quarter monthly, a month not at all"
            ) from None
        return {p.name: a for p, a in zip(parts, even_parts(amount, len(parts)), strict=True)}
    return _given_parts(period, amount, split)


def _given_parts(
    period: QuotaPeriod, amount: Decimal, given: Sequence[Decimal]
) -> dict[str, Decimal]:
    """Amounts given for the period's quarters (4) or months (3 or 12), in order."""
    units: tuple[Unit, ...] = ("quarter", "month") if period.unit_rank == 0 else ("month",)
    if period.unit_rank == 2:
        raise BadBreakdown(f"{period.name} is a month: it has no parts to give amounts for")
    for unit in units:
        parts = period.parts(unit)
        if len(parts) != len(given):
            continue
        total = sum(given, Decimal(0))
        if total != amount:
            raise BadBreakdown(
                f"the {len(given)} amounts given for {period.name}'s {unit}s sum to {total}, "
                f"not to its quota {amount}: they must sum to it exactly"
            )
        return {p.name: a for p, a in zip(parts, given, strict=True)}
    counts = " or ".join(f"{len(period.parts(u))} ({u}s)" for u in units)
    raise BadBreakdown(
        f"{len(given)} amounts given for {period.name}: give {counts}, one per part in order"
    )


@dataclass(frozen=True, slots=True)
class Target:
    """One period's quota as it stands: its amount and the event that set it."""

    amount: Decimal
    effective_at: datetime
    recorded_at: datetime
    actor: str
    set_by: str  # the period whose quota was set: the period itself, or the whole it is part of


@dataclass(frozen=True, slots=True)
class QuotaState:
    kind: SubjectKind | None = None
    subject: str | None = None
    year: int | None = None
    currency: str | None = None
    team: str | None = None  # for a rep: the team whose quota theirs adds up to
    targets: Mapping[str, Target] = field(default_factory=lambda: MappingProxyType({}))

    def amount(self, period: str) -> Decimal | None:
        target = self.targets.get(period)
        return None if target is None else target.amount


class Quota(Aggregate):
    """One subject's quotas for one year."""

    class Event(Aggregate.Event):
        effective_at: datetime
        actor: str
        command_id: str | None
        provenance: dict[str, str] | None
        command_digest: str | None

        def evolve(self, state: QuotaState) -> QuotaState:
            raise NotImplementedError

        def apply(self, quota: Quota) -> None:
            quota._absorb(self)

    class Opened(Aggregate.Created):
        effective_at: datetime
        actor: str
        command_id: str | None
        provenance: dict[str, str] | None
        command_digest: str | None
        kind: str
        subject: str
        year: int

        def evolve(self, state: QuotaState) -> QuotaState:
            kind: SubjectKind = "team" if self.kind == "team" else "rep"
            return replace(state, kind=kind, subject=self.subject, year=self.year)

        def apply(self, quota: Quota) -> None:
            quota._absorb(self)

    class TargetSet(Event):
        period: str
        amount: Decimal
        currency: str
        # The parts' amounts as decimal text: the codec restores only top-level fields.
        parts: dict[str, str]
        team: str | None

        def evolve(self, state: QuotaState) -> QuotaState:
            targets = dict(state.targets)
            amounts = {self.period: self.amount} | {p: Decimal(a) for p, a in self.parts.items()}
            for name, amount in amounts.items():
                targets[name] = Target(
                    in_cents(amount), self.effective_at, self.timestamp, self.actor, self.period
                )
            return replace(
                state,
                currency=self.currency,
                team=self.team if self.team is not None else state.team,
                targets=MappingProxyType(targets),
            )

    class TargetCleared(Event):
        period: str
        reason: str | None

        def evolve(self, state: QuotaState) -> QuotaState:
            targets = dict(state.targets)
            targets.pop(self.period, None)
            return replace(state, targets=MappingProxyType(targets))

    def __init__(self) -> None:
        self.state = QuotaState()
        self.timeline: list[QuotaEvent] = []
        self.command_ids: set[str] = set()
        self.command_digests: dict[str, str] = {}

    # ----------------------------------------------------------------- queries

    @property
    def currency(self) -> str | None:
        """The subject-year's currency: every quota of it is in this one."""
        for event in self.timeline:
            if isinstance(event, Quota.TargetSet):
                return event.currency
        return None

    def state_at(self, at: datetime, known_at: datetime | None = None) -> QuotaState:
        """The quotas as they stood at effective time ``at``, from events recorded by
        ``known_at``."""
        found = fold(
            e
            for e in self.timeline
            if e.effective_at <= at and (known_at is None or e.timestamp <= known_at)
        )
        # Whose quotas these are does not change with time: a backdated quota set before
        # the stream's opening still belongs to its subject.
        s = self.state
        return replace(found, kind=s.kind, subject=s.subject, year=s.year)

    def has_applied(self, command_id: str | None) -> bool:
        return command_id is not None and command_id in self.command_ids

    def applied_digest(self, command_id: str) -> str | None:
        return self.command_digests.get(command_id)

    # ---------------------------------------------------------------- commands

    @classmethod
    def open(cls, *, kind: SubjectKind, subject: str, year: int, stamp: Stamp) -> Quota:
        _check_not_future(stamp)
        return create_aggregate(
            cls,
            cls.Opened,
            id=quota_id(kind, subject, year),
            timestamp=stamp.recorded_at,
            **stamp_fields(stamp),
            kind=kind,
            subject=subject,
            year=year,
        )

    def set_target(
        self,
        period: QuotaPeriod,
        amount: Decimal,
        currency: str,
        split: Split,
        team: str | None,
        stamp: Stamp,
    ) -> None:
        _check_not_future(stamp)
        self._check_year(period)
        held = self.currency
        if held is not None and held != currency:
            raise MixedCurrency(
                f"the {self._described()} quotas are in {held}: a quota in {currency} would "
                f"mix currencies in one year; give it in {held} (--currency {held})"
            )
        if team is not None and self.state.kind == "team":
            raise CommandRefused(
                "a team's quota adds up to no other team: give team only for a rep"
            )
        parts = breakdown(period, amount, split)
        self._trigger(
            Quota.TargetSet,
            stamp,
            period=period.name,
            amount=amount,
            currency=currency,
            parts={name: str(value) for name, value in parts.items()},
            team=team,
        )

    def clear_target(self, period: QuotaPeriod, reason: str | None, stamp: Stamp) -> None:
        _check_not_future(stamp)
        self._check_year(period)
        if period.name not in self.state_at(stamp.effective_at).targets:
            raise NoQuota(
                f"the {self._described()} quotas hold none for {period.name} at "
                f"{stamp.effective_at.isoformat()}: nothing to clear"
            )
        self._trigger(Quota.TargetCleared, stamp, period=period.name, reason=reason)

    # ---------------------------------------------------------------- plumbing

    def _described(self) -> str:
        return f"{self.state.kind} '{self.state.subject}' {self.state.year}"

    def _check_year(self, period: QuotaPeriod) -> None:
        if period.year != self.state.year:  # pragma: no cover - the service picks the stream
            raise CommandRefused(f"{period.name} is not in {self.state.year}")

    def _trigger(self, event_class: type[Quota.Event], stamp: Stamp, **fields: Any) -> None:
        """The next event in sequence, built as ``Deal._trigger`` builds its own."""
        event = stamped_event(event_class, self.id, self.version + 1, stamp, fields)
        self._absorb(event)
        append_new_event(self, event, stamp.recorded_at)

    def _absorb(self, event: QuotaEvent) -> None:
        bisect.insort(self.timeline, event, key=_order)
        self.state = fold(self.timeline)
        if event.command_id is not None:
            self.command_ids.add(event.command_id)
            if event.command_digest is not None:
                self.command_digests[event.command_id] = event.command_digest


QuotaEvent = Quota.Event | Quota.Opened


def _order(event: QuotaEvent) -> tuple[datetime, int]:
    return (event.effective_at, event.originator_version)


def fold(events: Iterable[QuotaEvent]) -> QuotaState:
    """Fold events (in timeline order) into the quotas they produce."""
    state = QuotaState()
    for event in events:
        state = event.evolve(state)
    return state


def _check_not_future(stamp: Stamp) -> None:
    check_not_future(
        stamp, "record the quota effective now or earlier (backdate it to when it took effect)"
    )
