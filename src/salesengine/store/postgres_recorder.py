"""The PostgreSQL recorder: the library's, keeping the policy versions beside the events.

Named by its topic in the store settings, so that an SQLite run never imports psycopg.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from salesengine.domain.policy import KeptVersion
from salesengine.store.kept_versions import POLICY_VERSIONS_TABLE, kept_order


class PostgresRecorder(PostgresApplicationRecorder):
    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        table = Identifier(datastore.schema), Identifier(POLICY_VERSIONS_TABLE)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0}.{1} ("
                "policy text NOT NULL, fingerprint text NOT NULL, document text NOT NULL, "
                "recorded_at timestamptz NOT NULL, source text NOT NULL, "
                "PRIMARY KEY (policy, fingerprint))"
            ).format(*table)
        )
        # The first one kept stays: a version's document never changes (its name is its
        # hash), and its recorded time is when the store first saw it.
        self._keep_statement = SQL(
            "INSERT INTO {0}.{1} VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
        ).format(*table)
        self._kept_statement = SQL(
            "SELECT policy, fingerprint, document, recorded_at, source FROM {0}.{1}"
        ).format(*table)

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        # The library's private hook (listed in domain/eventsourcing_seam.py, pinned by
        # tests/unit/test_eventsourcing_seam.py). After the events, so under the lock the
        # library takes on the events table: two writers never wait on each other's
        # version rows while holding it. On a cursor of its own: the library reads the
        # events' ids from this one next.
        super()._insert_stored_events(curs, stored_events, **kwargs)
        versions = kwargs.get("policy_versions", ())
        if versions:
            with curs.connection.cursor() as other:
                self._keep(other, versions)

    def keep_policy_versions(self, versions: Sequence[KeptVersion]) -> None:
        """Keep versions on their own (the upgrade path: no event goes with them)."""
        with self.datastore.transaction(commit=True) as curs:
            self._keep(curs, versions)

    def _keep(self, curs: Cursor[DictRow], versions: Iterable[KeptVersion]) -> None:
        for v in sorted(versions, key=kept_order):
            curs.execute(
                self._keep_statement,
                (v.name, v.fingerprint, v.document, v.recorded_at, v.source),
            )

    def kept_policy_versions(self) -> list[KeptVersion]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._kept_statement)
            rows = curs.fetchall()
        return sorted(
            (
                KeptVersion(
                    r["policy"], r["fingerprint"], r["document"], r["recorded_at"], r["source"]
                )
                for r in rows
            ),
            key=kept_order,
        )
