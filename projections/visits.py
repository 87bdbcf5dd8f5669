"""Visits as logged: one row per visit event, for activity and cadence reports.

Visits are never corrected in place (a correction would be a new event), so the rows
are insert-only; "known at K" is ``recorded_at <= K``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Connection, Index, Integer, String, Table

from salesengine.projections.base import Envelope, metadata
from salesengine.projections.bitemporal import executemany
from salesengine.projections.projection import Projection
from salesengine.projections.timeline import DealTimeline

table = Table(
    "visits",
    metadata,
    Column("deal_id", String(32), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("actor", String(200), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("effective", Boolean, nullable=False),
    Column("effective_at", BigInteger, nullable=False),
    Column("recorded_at", BigInteger, nullable=False),
    Column("position", BigInteger, nullable=False),
    Index("ix_visits_effective_at", "effective_at"),
)
COLUMNS = (
    "deal_id",
    "version",
    "actor",
    "kind",
    "effective",
    "effective_at",
    "recorded_at",
    "position",
)


class Visits(Projection):
    name = "visits"
    tables = (table,)
    topics = frozenset({"VisitLogged"})

    def __init__(self) -> None:
        self._rows: list[tuple[Any, ...]] = []

    def forget(self) -> None:
        self._rows.clear()

    def apply(
        self,
        conn: Connection,  # noqa: ARG002 - rows are written on flush
        envelope: Envelope,
        timeline: DealTimeline | None,  # noqa: ARG002 - a visit is not on the timeline
    ) -> None:
        record = envelope.record
        actor, kind, effective = record.data  # stored_events: a visit's record
        self._rows.append(
            (
                envelope.deal_id,
                envelope.version,
                actor,
                kind,
                effective,
                record.effective_us,
                envelope.recorded_us,
                envelope.position,
            )
        )

    def take(self) -> list[tuple[Any, ...]]:
        rows, self._rows = self._rows, []
        return rows

    @staticmethod
    def merge(parts: list[list[tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
        return [row for part in parts for row in part]

    def write(self, conn: Connection, taken: list[tuple[Any, ...]]) -> None:
        if taken:
            executemany(conn, table.insert(), taken, COLUMNS)
