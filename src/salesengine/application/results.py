"""Plain results returned by the application: never aggregates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from salesengine.domain.deal import Deal, DealEvent, fold
from salesengine.domain.errors import SalesEngineError
from salesengine.domain.state import DealState


@dataclass(frozen=True, slots=True)
class CommandResult:
    deal: str
    status: Literal["applied", "duplicate"]
    event: str | None
    version: int
    position: str  # the deal's stage while open, else its outcome


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


class RefusedAt(Exception):
    """The refusal of one command of a batch applied all or nothing, and its index."""

    def __init__(self, error: SalesEngineError, index: int) -> None:
        super().__init__(error.message)
        self.error = error
        self.index = index


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    version: int
    position: int | None  # global position in the notification log
    type: str
    effective_at: datetime
    recorded_at: datetime
    actor: str
    command_id: str | None
    provenance: dict[str, str] | None
    stage_before: str | None
    stage_after: str
    data: dict[str, Any]
    # An advance or reopening whose entry criteria, as known at K, did not hold on the
    # deal just before it: the ones missing. Only stores written before backdated
    # evidence was refused can hold one (docs/rules.md, "Backdated evidence").
    entered_without: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DealHistory:
    deal: str
    as_of: datetime
    known_at: datetime
    events: list[HistoryEntry]
    state: dict[str, Any]
    later_events: int  # known at K but effective after T, so not part of the state
    first_recorded: datetime | None = None  # when the deal's first event was recorded


@dataclass(frozen=True, slots=True)
class FallenBack:
    deal: str
    from_stage: str
    to_stage: str
    effective_at: datetime


@dataclass(slots=True)
class SweepReport:
    at: datetime
    examined: int = 0
    fell_back: list[FallenBack] = field(default_factory=list)
    unchanged: int = 0
    not_applicable: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DealEvents:
    """One deal as data: its events in timeline order (effective time, then version) and
    its state after them. The events are the domain's own, immutable."""

    key: str
    id: UUID
    version: int
    timeline: tuple[DealEvent, ...]
    state: DealState

    @classmethod
    def of(cls, deal: Deal) -> DealEvents:
        return cls(deal.state.key, deal.id, deal.version, tuple(deal.timeline), deal.state)

    def state_at(self, at: datetime, known_at: datetime | None = None) -> DealState:
        """The deal as it stood at effective time ``at``, from the events recorded by
        ``known_at`` (as ``Deal.state_at``)."""
        timeline = self.timeline
        if known_at is None and timeline and at >= timeline[-1].effective_at:
            return self.state
        return fold(
            e
            for e in timeline
            if e.effective_at <= at and (known_at is None or e.timestamp <= known_at)
        )
