"""Stage intervals: every ``[entered_at, exited_at)`` of every deal, bitemporally.

This is the read model the reports derive from. A deal's intervals are ``stage_fold``'s
over its stage changes, in timeline order; the last one is open (``exited_at`` null).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table

from salesengine.projections.base import Payload, metadata
from salesengine.projections.bitemporal import DealRowsProjection, bitemporal_columns
from salesengine.projections.stage_fold import VIA
from salesengine.projections.timeline import DealTimeline

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
    # The policy version (fingerprint) the interval was entered under: its weights.
    Column("policy_version", String(64), nullable=False),
    Index("ix_stage_intervals_current", "recorded_to", "entered_at"),
    Index("ix_stage_intervals_stage", "stage", "entered_at"),
)


class StageIntervals(DealRowsProjection):
    name = "stage_intervals"
    version = 2  # 2: each interval's policy version
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
        "policy_version",
    )

    def changed_from(self, timeline: DealTimeline) -> int:
        return timeline.stages_from

    def rows_from(self, timeline: DealTimeline, index: int) -> list[Payload]:
        stages = timeline.stages
        return [
            (*row, version)
            for row, version in zip(stages.rows[index:], stages.versions[index:], strict=True)
        ]
