"""The SQLite recorder: the library's, inserting a batch in one statement, keeping the
policy versions beside the events and chaining every event it writes (the audit chain,
``store.chain_table``)."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from salesengine.domain.policy import KeptVersion
from salesengine.store.chain_table import (
    CHAIN_COLUMNS,
    CHAIN_TABLE,
    EMPTY,
    META_ROW,
    META_TABLE,
    UPGRADE_PAGE,
    ChainRow,
    Head,
    LastLinks,
    ToChain,
    chain_existing,
    chain_rows,
    continued,
    now,
    sqlite_statements,
)
from salesengine.store.kept_versions import POLICY_VERSIONS_TABLE, kept_order
from salesengine.store.personal_keys import (
    KEYS_TABLE,
    Keyring,
    KeyRow,
    Used,
    raced_error,
)
from salesengine.store.personal_keys import sqlite_statements as key_statements
from salesengine.store.sqlite_wal import wal_before_opening


class BatchSQLiteRecorder(SQLiteApplicationRecorder):
    """Inserts a batch with one executemany instead of one INSERT per event, and keeps
    the policy versions the batch's events were decided under.

    The library's recorder inserts row by row to return each notification id; the
    engine never uses them (readers page the log by rowid), so the whole batch goes in
    one statement, in one transaction (as the library's, with the versions) and the
    same order.

    The batch's positions are given, not left to SQLite: one past both the last event
    and the last chained position, so that a position whose event was deleted is never
    handed out again (the chain still names it). The transaction's first statement is a
    write, so it holds the write lock before it reads where the log and chain end.
    """

    keyring: Keyring | None = None

    def __init__(self, datastore: Any, events_table_name: str = "stored_events") -> None:
        pool = datastore.pool
        if not pool.is_sqlite_memory_mode:
            wal_before_opening(pool.db_name, pool.lock_timeout)
        super().__init__(datastore, events_table_name)
        self._links = LastLinks()
        table = self.events_table_name
        self._insert_at = (
            f"INSERT INTO {table} (rowid, originator_id, originator_version, topic, state) "
            "VALUES (?,?,?,?,?)"
        )
        self._lock = f"UPDATE {META_TABLE} SET name = name WHERE name = '{META_ROW}'"
        self._top = f"SELECT max(rowid) FROM {table}"
        self._chained = f"SELECT 1 FROM {META_TABLE} WHERE name = ?"
        self._head = f"SELECT seq, position, log_hash FROM {CHAIN_TABLE} ORDER BY seq DESC LIMIT 1"
        self._previous = (
            f"SELECT c.event_hash FROM {table} e JOIN {CHAIN_TABLE} c ON c.position = e.rowid "
            "WHERE e.originator_id = ? AND e.originator_version = ?"
        )
        self._insert_links = f"INSERT INTO {CHAIN_TABLE} ({CHAIN_COLUMNS}) VALUES (?,?,?,?,?,?,?)"
        self._page = (
            f"SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
            f"WHERE rowid > ? ORDER BY rowid LIMIT {UPGRADE_PAGE}"
        )

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {POLICY_VERSIONS_TABLE} ("
            "policy TEXT NOT NULL, fingerprint TEXT NOT NULL, document TEXT NOT NULL, "
            "recorded_at TEXT NOT NULL, source TEXT NOT NULL, "
            "PRIMARY KEY (policy, fingerprint))",
            *sqlite_statements(),
            *key_statements(),
        ]

    def create_table(self) -> None:
        super().create_table()
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._chained, (META_ROW,))
            if c.fetchone() is not None:
                return
        with self.datastore.transaction(commit=True) as c:
            self._chain_existing(c)

    def _chain_existing(self, c: SQLiteCursor) -> None:
        """Chain the events of a store written before chaining began, once: the first
        open of such a store (a new store records that chaining began with it). The
        write comes first, so that the check after it holds the write lock."""
        c.execute(self._lock)
        c.execute(self._chained, (META_ROW,))
        if c.fetchone() is not None:
            return

        def read_page(after: int) -> list[ToChain]:
            c.execute(self._page, (after,))
            return [(r[0], _hex(r[1]), r[2], r[3], bytes(r[4])) for r in c.fetchall()]

        count, through = chain_existing(EMPTY, read_page, self._write_links(c))
        c.execute(
            f"INSERT INTO {META_TABLE} VALUES (?, ?, ?, ?)",
            (META_ROW, now().isoformat(), through, count),
        )

    def _write_links(self, c: SQLiteCursor) -> Any:
        def write(rows: list[ChainRow]) -> None:
            c.executemany(self._insert_links, rows)

        return write

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        keyring = self.keyring
        used = keyring.take_used() if keyring is not None else None
        try:
            links = self._insert(stored_events, used, kwargs)
        except BaseException:
            if keyring is not None and used:
                keyring.raced(used)
            raise
        if keyring is not None and used:
            keyring.written(used)
        self._links.committed(links)
        return None

    def _insert(
        self, stored_events: Sequence[StoredEvent], used: Used | None, kwargs: dict[str, Any]
    ) -> list[ChainRow]:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._lock)
            self._keep(c, kwargs.get("policy_versions", ()))
            self._personal_keys(c, used, kwargs.get("erase_subjects", ()))
            if not stored_events:
                return []
            c.execute(self._head)
            found = c.fetchone()
            head = Head(found[0], found[1], bytes(found[2])) if found else EMPTY
            c.execute(self._top)
            first = max(c.fetchone()[0] or 0, head.position) + 1
            events: list[ToChain] = [
                (
                    first + i,
                    s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
                    s.originator_version,
                    s.topic,
                    s.state,
                )
                for i, s in enumerate(stored_events)
            ]
            c.executemany(self._insert_at, events)
            previous, unknown = self._links.known(continued([(e[1], e[2]) for e in events]))
            for aggregate, version in unknown:
                c.execute(self._previous, (aggregate, version))
                row = c.fetchone()
                if row is not None:
                    previous[aggregate] = bytes(row[0])
            links = chain_rows(head, events, previous)
            c.executemany(self._insert_links, links)
        return links

    def _personal_keys(self, c: SQLiteCursor, used: Used | None, erase: Sequence[str]) -> None:
        """Store the new keys the events were sealed with, check the known ones are
        still stored, and delete the keys of the subjects erased (overwriting the freed
        pages, so the key is not left on disk in them)."""
        if used:
            if used.new:
                c.executemany(
                    f"INSERT INTO {KEYS_TABLE} VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
                    list(used.new.values()),
                )
            # A new key skipped as a conflict, or a known one erased meanwhile, is short.
            wanted = sorted({*used.new, *used.known})
            for at in range(0, len(wanted), 500):
                some = wanted[at : at + 500]
                c.execute(
                    f"SELECT count(*) FROM {KEYS_TABLE} WHERE subject IN "
                    f"({','.join('?' * len(some))})",
                    some,
                )
                if c.fetchone()[0] != len(some):
                    raise raced_error()
        if erase:
            c.execute("PRAGMA secure_delete = ON")
            c.executemany(f"DELETE FROM {KEYS_TABLE} WHERE subject = ?", [(s,) for s in erase])

    def scrub_erased(self) -> bool:
        """After an erasure: copy the write-ahead log into the database and empty it,
        so that no copy of the deleted keys stays in it (the database's freed pages
        are overwritten already: secure_delete). False if a reader kept it from
        emptying the log within a few seconds."""
        pool = self.datastore.pool
        if pool.is_sqlite_memory_mode:
            return True
        with contextlib.closing(sqlite3.connect(pool.db_name, timeout=5)) as db:
            for _ in range(20):
                busy, _log, _done = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if not busy:
                    return True
                time.sleep(0.25)
        return False

    def personal_keys(
        self,
        *,
        subjects: Sequence[str] | None = None,
        pairs: Sequence[tuple[str, str]] | None = None,
    ) -> list[KeyRow]:
        query = f"SELECT subject, scope, label, key FROM {KEYS_TABLE}"
        with self.datastore.transaction(commit=False) as c:
            if subjects is not None:
                rows = []
                for subject in subjects:
                    c.execute(f"{query} WHERE subject = ?", (subject,))
                    rows.extend(c.fetchall())
            elif pairs is not None:
                rows = []
                for scope, label in pairs:
                    c.execute(f"{query} WHERE scope = ? AND label = ?", (scope, label))
                    rows.extend(c.fetchall())
            else:
                c.execute(query)
                rows = c.fetchall()
        return [(r[0], r[1], r[2], bytes(r[3])) for r in rows]

    def keep_policy_versions(self, versions: Sequence[KeptVersion]) -> None:
        """Keep versions on their own (the upgrade path: no event goes with them)."""
        with self.datastore.transaction(commit=True) as c:
            self._keep(c, versions)

    def _keep(self, c: SQLiteCursor, versions: Iterable[KeptVersion]) -> None:
        # The first one kept stays: a version's document never changes (its name is its
        # hash), and its recorded time is when the store first saw it.
        c.executemany(
            f"INSERT INTO {POLICY_VERSIONS_TABLE} VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
            [
                (v.name, v.fingerprint, v.document, v.recorded_at.isoformat(), v.source)
                for v in versions
            ],
        )

    def kept_policy_versions(self) -> list[KeptVersion]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT policy, fingerprint, document, recorded_at, source "
                f"FROM {POLICY_VERSIONS_TABLE}"
            )
            rows = c.fetchall()
        return sorted(
            (KeptVersion(r[0], r[1], r[2], datetime.fromisoformat(r[3]), r[4]) for r in rows),
            key=kept_order,
        )


def _hex(originator_id: Any) -> str:
    return originator_id.hex if isinstance(originator_id, UUID) else str(originator_id)
