"""Visits as logged: one row per visit event, for activity and cadence reports.

Visits are never corrected in place (a correction would be a new event), so the rows
are insert-only; "known at K" is ``recorded_at <= K``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import BigInteger, Boolean, Column, Connection, Index, Integer, String, Table

from salesengine.domain.deal import Deal
from salesengine.projections.base import Envelope, Projection, metadata, to_us

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


class Visits(Projection):
    name = "visits"
    tables = (table,)
    topics = frozenset({"VisitLogged"})

    def process(self, conn: Connection, batch: Sequence[Envelope]) -> None:
        rows = [
            {
                "deal_id": e.deal_id,
                "version": e.version,
                "actor": e.event.actor,
                "kind": e.event.kind,
                "effective": e.event.effective,
                "effective_at": to_us(e.event.effective_at),
                "recorded_at": to_us(e.event.timestamp),
                "position": e.position,
            }
            for e in batch
            if isinstance(e.event, Deal.VisitLogged)
        ]
        if rows:
            conn.execute(table.insert(), rows)
