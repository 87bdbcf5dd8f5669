"""Bitemporal per-deal rows: what was true in effective time, while it was the known truth.

A deal's rows are a pure function of its (relevant) events in timeline order. When an
event arrives, the function is evaluated again; rows that still hold are left alone,
rows that no longer hold are closed (``recorded_to`` = the event's recorded time) and
the new ones are inserted with ``recorded_from`` = that time. Nothing is edited or
deleted, so "as known at K" reads the rows whose recording window contains K.

A deal's recorded times never decrease with its versions (the engine guarantees it),
so processing events in log order yields recording windows that match a replay of
"events recorded at or before K" exactly.
"""

from __future__ import annotations

import bisect
from abc import abstractmethod
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    ClauseElement,
    Column,
    Connection,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    func,
    select,
)

from salesengine.domain.deal import DealEvent
from salesengine.projections.base import Envelope, Projection

Payload = tuple[Hashable, ...]
# The events of one deal with a version below the given one, in any order.
HistoryLoader = Callable[[UUID, int], list[DealEvent]]


def bitemporal_columns() -> list[Column[Any]]:
    return [
        Column("deal_id", String(32), primary_key=True),
        Column("row_seq", Integer, primary_key=True, autoincrement=False),
        Column("recorded_from", BigInteger, nullable=False),
        Column("recorded_to", BigInteger, nullable=True),
        Column("position", BigInteger, nullable=False),  # the event that made the row
    ]


def _order(event: DealEvent) -> tuple[Any, int]:
    return (event.effective_at, event.originator_version)


@dataclass(slots=True)
class _DealRows:
    events: list[DealEvent]  # relevant events, in timeline order
    current: list[tuple[int, Payload]]  # (row_seq, payload) of the rows known true now
    next_seq: int


class DealRowsProjection(Projection):
    """A read model whose rows per deal are ``rows_for(events)``, kept bitemporally."""

    table: ClassVar[Table]
    payload_columns: ClassVar[tuple[str, ...]]
    cache_deals: ClassVar[int] = 200_000

    def __init__(self, history: HistoryLoader) -> None:
        self._history = history
        self._deals: OrderedDict[str, _DealRows] = OrderedDict()
        self._inserts: dict[tuple[str, int], dict[str, Any]] = {}
        self._closes: dict[tuple[str, int], int] = {}

    @abstractmethod
    def rows_for(self, events: Sequence[DealEvent]) -> list[Payload]:
        """The rows that hold given these events (in timeline order)."""

    def forget(self) -> None:
        self._deals.clear()
        self._inserts.clear()
        self._closes.clear()

    def process(self, conn: Connection, batch: Sequence[Envelope]) -> None:
        for envelope in batch:
            if type(envelope.event).__name__ in self.topics:
                self._apply(conn, envelope)
        self._flush(conn)

    def _apply(self, conn: Connection, envelope: Envelope) -> None:
        event = envelope.event
        deal = self._deal(conn, envelope)
        bisect.insort(deal.events, event, key=_order)
        wanted = self.rows_for(deal.events)
        recorded = envelope.recorded_us
        still = Counter(wanted)
        kept: list[tuple[int, Payload]] = []
        for seq, payload in deal.current:
            if still[payload] > 0:
                still[payload] -= 1
                kept.append((seq, payload))
            else:
                self._close(envelope.deal_id, seq, recorded)
        for payload in wanted:
            if still[payload] > 0:
                still[payload] -= 1
                seq = deal.next_seq
                deal.next_seq += 1
                kept.append((seq, payload))
                row = dict(zip(self.payload_columns, payload, strict=True))
                row.update(
                    deal_id=envelope.deal_id,
                    row_seq=seq,
                    recorded_from=recorded,
                    recorded_to=None,
                    position=envelope.position,
                )
                self._inserts[(envelope.deal_id, seq)] = row
        deal.current = kept

    def _close(self, deal_id: str, seq: int, recorded: int) -> None:
        pending = self._inserts.get((deal_id, seq))
        if pending is not None:
            pending["recorded_to"] = recorded  # made and superseded within this batch
        else:
            self._closes[(deal_id, seq)] = recorded

    def _deal(self, conn: Connection, envelope: Envelope) -> _DealRows:
        key = envelope.deal_id
        deal = self._deals.get(key)
        if deal is not None:
            self._deals.move_to_end(key)
            return deal
        if envelope.version == 1:
            deal = _DealRows(events=[], current=[], next_seq=1)
        else:
            deal = self._load(conn, envelope)
        self._deals[key] = deal
        return deal

    def _load(self, conn: Connection, envelope: Envelope) -> _DealRows:
        """A deal not in the cache: its earlier events from the store, its rows from ours."""
        earlier = self._history(envelope.event.originator_id, envelope.version)
        events = sorted((e for e in earlier if type(e).__name__ in self.topics), key=_order)
        t = self.table
        columns = [t.c[name] for name in self.payload_columns]
        rows = conn.execute(
            select(t.c.row_seq, *columns).where(
                t.c.deal_id == envelope.deal_id, t.c.recorded_to.is_(None)
            )
        ).all()
        current = [(int(r[0]), tuple(r[1:])) for r in rows]
        top = conn.execute(
            select(func.max(t.c.row_seq)).where(t.c.deal_id == envelope.deal_id)
        ).scalar()
        # Deals are only evicted between batches, so no row of this deal is unflushed.
        return _DealRows(events=events, current=current, next_seq=int(top or 0) + 1)

    def _flush(self, conn: Connection) -> None:
        t = self.table
        if self._inserts:
            executemany(conn, t.insert(), list(self._inserts.values()))
        if self._closes:
            executemany(
                conn,
                t.update()
                .where(and_(t.c.deal_id == bindparam("d"), t.c.row_seq == bindparam("s")))
                .values(recorded_to=bindparam("rt")),
                [{"d": d, "s": s, "rt": rt} for (d, s), rt in self._closes.items()],
            )
        self._inserts.clear()
        self._closes.clear()
        while len(self._deals) > self.cache_deals:
            self._deals.popitem(last=False)


def executemany(conn: Connection, statement: ClauseElement, rows: list[dict[str, Any]]) -> None:
    """Many rows through the driver's executemany, compiled once.

    SQLAlchemy's own executemany re-processes every row's parameters in Python, which
    cost more than the database work on a rebuild.
    """
    compiled = statement.compile(dialect=conn.dialect)
    names: list[str] | None = getattr(compiled, "positiontup", None)
    if names is None:  # a named paramstyle (psycopg): the rows go as they are
        conn.exec_driver_sql(str(compiled), rows)
    else:
        conn.exec_driver_sql(str(compiled), [tuple(row[n] for n in names) for row in rows])
