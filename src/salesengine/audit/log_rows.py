"""The log as the audit sees it: each position's event row and chain link, read straight
from the store's tables, both sides kept even when the other is gone.

Events and links are read as two streams in position order, a page at a time, and
merged: a full outer join by position that uses each table's own key. One connection
in one snapshot reads them all (SQLite's deferred transaction, PostgreSQL's repeatable
read), so that events written meanwhile are neither half seen nor counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Engine

from salesengine.audit_verifier import Entry, Event, Link
from salesengine.store.chain_table import CHAIN_TABLE, META_ROW, META_TABLE
from salesengine.store.settings import EVENTS_TABLE, StoreSettings

PAGE = 5000


@dataclass(frozen=True)
class ChainStart:
    """When chaining began, and the events it chained as they stood then."""

    chained_since: datetime | str | None
    upgraded_through: int
    upgraded_events: int


class LogRows:
    """Reads of the events table and the chain table of one store."""

    def __init__(self, settings: StoreSettings) -> None:
        self.sqlite = settings.kind == "sqlite"
        schema = "" if self.sqlite else (settings.env["POSTGRES_SCHEMA"] or "public")
        prefix = f'"{schema}".' if schema else ""
        self.prefix = prefix
        self.events = prefix + EVENTS_TABLE[settings.kind]
        self.chain = prefix + CHAIN_TABLE
        self.meta = prefix + META_TABLE
        self.position = "rowid" if self.sqlite else "notification_id"
        self.p = "?" if self.sqlite else "%s"

    @contextmanager
    def snapshot(self, sql: Engine) -> Iterator[Connection]:
        """One connection reading one state of the store."""
        with sql.connect() as connection:
            # SQLite: the reader engine's deferred BEGIN takes a snapshot at its first read.
            conn = (
                connection
                if self.sqlite
                else connection.execution_options(isolation_level="REPEATABLE READ")
            )
            with conn.begin():
                yield conn

    def entries(self, conn: Connection, after: int = 0) -> Iterator[Entry]:
        """Every position after ``after`` that holds an event, a link or both."""
        events, links = self._events(conn, after), self._links(conn, after)
        e, k = next(events, None), next(links, None)
        while e is not None or k is not None:
            if k is None or (e is not None and e[0] < k[0]):
                assert e is not None
                yield e[0], e[1], None
                e = next(events, None)
            elif e is None or k[0] < e[0]:
                yield k[0], None, k[1]
                k = next(links, None)
            else:
                yield e[0], e[1], k[1]
                e, k = next(events, None), next(links, None)

    def _events(self, conn: Connection, after: int) -> Iterator[tuple[int, Event]]:
        statement = (
            f"SELECT {self.position}, originator_id, originator_version, topic, state "
            f"FROM {self.events} WHERE {self.position} > {self.p} "
            f"ORDER BY {self.position} LIMIT {PAGE}"
        )
        while rows := fetch(conn, statement, (after,)):
            for position, originator_id, version, topic, state in rows:
                yield position, (_hex(originator_id), _int(version), topic or "", _bytes(state))
            after = rows[-1][0]

    def _links(self, conn: Connection, after: int) -> Iterator[tuple[int, Link]]:
        statement = (
            f"SELECT position, seq, aggregate, version, state_digest, event_hash, log_hash "
            f"FROM {self.chain} WHERE position > {self.p} ORDER BY position LIMIT {PAGE}"
        )
        while rows := fetch(conn, statement, (after,)):
            for position, seq, aggregate, version, digest, hashed, log in rows:
                yield position, (seq, aggregate, version, bytes(digest), bytes(hashed), bytes(log))
            after = rows[-1][0]

    def link_at(self, conn: Connection, seq: int) -> tuple[int, bytes] | None:
        """The position and stored log hash of the chain's entry number ``seq``."""
        row = conn.exec_driver_sql(
            f"SELECT position, log_hash FROM {self.chain} WHERE seq = {self.p}", (seq,)
        ).first()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def head(self, conn: Connection) -> tuple[int, int, bytes] | None:
        """The chain's last entry: (seq, position, log hash)."""
        row = conn.exec_driver_sql(
            f"SELECT seq, position, log_hash FROM {self.chain} ORDER BY seq DESC LIMIT 1"
        ).first()
        return None if row is None else (int(row[0]), int(row[1]), bytes(row[2]))

    def stored_hash(self, conn: Connection, aggregate: str, version: int) -> bytes | None:
        """The chained hash of an aggregate's event, found through the events' own key."""
        key: Any = aggregate if self.sqlite else UUID(aggregate)
        row = conn.exec_driver_sql(
            f"SELECT c.event_hash FROM {self.events} e JOIN {self.chain} c "
            f"ON c.position = e.{self.position} "
            f"WHERE e.originator_id = {self.p} AND e.originator_version = {self.p}",
            (key, version),
        ).first()
        return None if row is None else bytes(row[0])

    def start(self, conn: Connection) -> ChainStart:
        row = conn.exec_driver_sql(
            f"SELECT chained_since, upgraded_through, upgraded_events FROM {self.meta} "
            f"WHERE name = {self.p}",
            (META_ROW,),
        ).first()
        if row is None:
            return ChainStart(None, 0, 0)
        return ChainStart(row[0], int(row[1]), int(row[2]))

    def links(self, conn: Connection, first: int, last: int) -> list[tuple[int, Link]]:
        """The chain's links at positions ``first`` to ``last``."""
        rows = conn.exec_driver_sql(
            f"SELECT position, seq, aggregate, version, state_digest, event_hash, log_hash "
            f"FROM {self.chain} WHERE position >= {self.p} AND position <= {self.p} "
            "ORDER BY position",
            (first, last),
        ).all()
        return [(r[0], (r[1], r[2], r[3], bytes(r[4]), bytes(r[5]), bytes(r[6]))) for r in rows]


def fetch(conn: Connection, statement: str, params: tuple[Any, ...]) -> list[Any]:
    """Plain tuples from the driver, in the connection's transaction: SQLAlchemy's rows
    cost as much as the hashing on a log this size."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


# A tampered row may hold what the engine never writes (a NULL, text in SQLite's state
# column): it is read as it is, for the verifier to find it does not match.


def _hex(originator_id: Any) -> str:
    if originator_id is None:
        return ""
    return originator_id.hex if isinstance(originator_id, UUID) else str(originator_id)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int) else -1


def _bytes(value: Any) -> bytes:
    if value is None:
        return b""
    return value.encode() if isinstance(value, str) else bytes(value)
