"""The SQLite recorder: the library's, inserting a batch in one statement and keeping the
policy versions beside the events."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from salesengine.domain.policy import KeptVersion
from salesengine.store.kept_versions import POLICY_VERSIONS_TABLE, kept_order


class BatchSQLiteRecorder(SQLiteApplicationRecorder):
    """Inserts a batch with one executemany instead of one INSERT per event, and keeps
    the policy versions the batch's events were decided under.

    The library's recorder inserts row by row to return each notification id; the
    engine never uses them (readers page the log by rowid), so the whole batch goes in
    one statement, in one transaction (as the library's, with the versions) and the
    same order.
    """

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {POLICY_VERSIONS_TABLE} ("
            "policy TEXT NOT NULL, fingerprint TEXT NOT NULL, document TEXT NOT NULL, "
            "recorded_at TEXT NOT NULL, source TEXT NOT NULL, "
            "PRIMARY KEY (policy, fingerprint))",
        ]

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        with self.datastore.transaction(commit=True) as c:
            self._keep(c, kwargs.get("policy_versions", ()))
            c.executemany(
                self.insert_events_statement,
                [
                    (
                        s.originator_id.hex
                        if isinstance(s.originator_id, UUID)
                        else s.originator_id,
                        s.originator_version,
                        s.topic,
                        s.state,
                    )
                    for s in stored_events
                ],
            )
        return None

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
