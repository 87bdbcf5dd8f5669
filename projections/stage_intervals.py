"""Stage intervals: every ``[entered_at, exited_at)`` of every deal, bitemporally.

This is the read model the reports derive from. A deal's stage timeline is its opening
stage, then every stage change (advance, regress including the fall-back, reopen, and
the outcomes won, lost and abandoned), in timeline order; each interval ends where the
next begins, and the last one is open (``exited_at`` null).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table

from salesengine.domain.deal import Deal, DealEvent
from salesengine.projections.base import metadata, to_us
from salesengine.projections.bitemporal import DealRowsProjection, Payload, bitemporal_columns

table = Table(
    "stage_intervals",
    metadata,
    *bitemporal_columns(),
    Column("policy", String(64), nullable=False),
    Column("stage", String(64), nullable=False),  # a stage key, or won / lost / abandoned
    Column(
        "via", String(16), nullable=False
    ),  # opened, advanced, regressed, reopened, or the outcome
    Column("reason", String(4000), nullable=True),
    Column("entered_version", Integer, nullable=False),
    Column("entered_at", BigInteger, nullable=False),
    Column("exited_at", BigInteger, nullable=True),
    Index("ix_stage_intervals_current", "recorded_to", "entered_at"),
    Index("ix_stage_intervals_stage", "stage", "entered_at"),
)

VIA = {
    "Opened": "opened",
    "StageAdvanced": "advanced",
    "StageRegressed": "regressed",
    "Reopened": "reopened",
    "Won": "won",
    "Lost": "lost",
    "Abandoned": "abandoned",
}


def entered(event: DealEvent) -> tuple[str, str | None]:
    """The stage (or outcome) a stage-changing event enters, and its reason."""
    match event:
        case Deal.Opened(stage=stage):
            return stage, None
        case Deal.StageAdvanced(to_stage=stage):
            return stage, None
        case Deal.StageRegressed(to_stage=stage, reason=reason):
            return stage, reason
        case Deal.Reopened(to_stage=stage, reason=reason):
            return stage, reason
        case Deal.Won():
            return "won", None
        case Deal.Lost(reason=reason):
            return "lost", reason
        case Deal.Abandoned(reason=reason):
            return "abandoned", reason
    raise TypeError(f"{type(event).__name__} does not change the stage")


class StageIntervals(DealRowsProjection):
    name = "stage_intervals"
    table = table
    tables = (table,)
    topics = frozenset(VIA)
    payload_columns = (
        "policy",
        "stage",
        "via",
        "reason",
        "entered_version",
        "entered_at",
        "exited_at",
    )

    def rows_for(self, events: Sequence[DealEvent]) -> list[Payload]:
        return stage_rows(events)


def stage_rows(events: Sequence[DealEvent]) -> list[Payload]:
    """(policy, stage, via, reason, entered_version, entered_at, exited_at) per interval."""
    if not events or not isinstance(events[0], Deal.Opened):
        return []  # pragma: no cover - a deal's first event is always its opening
    policy = events[0].policy
    rows: list[Payload] = []
    for i, event in enumerate(events):
        stage, reason = entered(event)
        exited = to_us(events[i + 1].effective_at) if i + 1 < len(events) else None
        rows.append(
            (
                policy,
                stage,
                VIA[type(event).__name__],
                reason,
                event.originator_version,
                to_us(event.effective_at),
                exited,
            )
        )
    return rows
