"""The PostgreSQL recorder: the library's, keeping the policy versions beside the events
and chaining every event it writes (the audit chain, ``store.chain_table``).

Named by its topic in the store settings, so that an SQLite run never imports psycopg.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

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
    postgres_statements,
)
from salesengine.store.kept_versions import POLICY_VERSIONS_TABLE, kept_order
from salesengine.store.personal_keys import KEYS_TABLE, Keyring, KeyRow, Used, raced_error
from salesengine.store.personal_keys import postgres_statements as key_statements


class PostgresRecorder(PostgresApplicationRecorder):
    keyring: Keyring | None = None

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self._links = LastLinks()
        self._written = threading.local()  # the chain rows of this thread's write
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
        schema = Identifier(datastore.schema).as_string()
        events = f"{schema}.{Identifier(self.events_table_name).as_string()}"
        chain, meta = f"{schema}.{CHAIN_TABLE}", f"{schema}.{META_TABLE}"
        self.sql_create_statements.extend(SQL(s).format() for s in postgres_statements(schema))
        self.sql_create_statements.extend(SQL(s).format() for s in key_statements(schema))
        keys = f"{schema}.{KEYS_TABLE}"
        # The known ones are counted in the statement's snapshot, which the new rows are
        # not in: the two counts never overlap.
        self._check_keys = (
            f"WITH new AS (INSERT INTO {keys} SELECT * FROM unnest(%s::text[], %s::text[], "
            "%s::text[], %s::bytea[]) ON CONFLICT DO NOTHING RETURNING subject) "
            "SELECT (SELECT count(*) FROM new) AS inserted, "
            f"(SELECT count(*) FROM {keys} WHERE subject = ANY(%s::text[])) AS known"
        )
        self._erase_keys = f"DELETE FROM {keys} WHERE subject = ANY(%s::text[])"
        self._select_keys = f"SELECT subject, scope, label, key FROM {keys}"
        self._vacuum_keys = f"VACUUM FULL {keys}"
        self._head = f"SELECT seq, position, log_hash FROM {chain} ORDER BY seq DESC LIMIT 1"
        self._previous = (
            f"SELECT e.originator_id, c.event_hash FROM {events} e "
            f"JOIN {chain} c ON c.position = e.notification_id "
            "WHERE (e.originator_id, e.originator_version) IN "
            "(SELECT * FROM unnest(%s::uuid[], %s::bigint[]))"
        )
        self._insert_links = (
            f"INSERT INTO {chain} ({CHAIN_COLUMNS}) SELECT * FROM unnest(%s::bigint[], "
            "%s::bigint[], %s::text[], %s::bigint[], %s::bytea[], %s::bytea[], %s::bytea[])"
        )
        self._lock_events = f"LOCK TABLE {events} IN EXCLUSIVE MODE"
        self._meta = f"SELECT 1 FROM {meta} WHERE name = %s"
        self._insert_meta = f"INSERT INTO {meta} VALUES (%s, %s, %s, %s)"
        self._page = (
            f"SELECT notification_id, originator_id, originator_version, topic, state "
            f"FROM {events} WHERE notification_id > %s ORDER BY notification_id "
            f"LIMIT {UPGRADE_PAGE}"
        )

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        # The library's private hook (listed in domain/eventsourcing_seam.py, pinned by
        # tests/unit/test_eventsourcing_seam.py). After the events, so under the lock the
        # library takes on the events table: two writers never wait on each other's
        # version rows while holding it. On a cursor of its own: the library reads the
        # events' ids from this one next.
        super()._insert_stored_events(curs, stored_events, **kwargs)
        conn = curs.connection
        try:
            versions = kwargs.get("policy_versions", ())
            if versions:
                with conn.cursor() as other:
                    self._keep(other, versions)
            # Queued in the library's pipeline with the insert, so that the answers come
            # back in its one round trip (the sync before it reads the events' ids): the
            # chain's head, and the check of the personal data keys. Read in the next hook.
            head = conn.cursor()
            # Never prepared: a statement prepared in a pipeline whose insert then fails
            # (a version conflict) is dropped by the server but kept in psycopg's cache.
            head.execute(self._head, prepare=False)
            keys = self._queue_keys(conn, kwargs.get("personal"))
            erase = kwargs.get("erase_subjects", ())
            if erase:
                with conn.cursor() as other:
                    other.execute(self._erase_keys, (list(erase),), prepare=False)
        except psycopg.Error:
            # The insert failed (a version conflict) and its answer came back while
            # these were being queued. The answers still owed for them would fail the
            # library's exit from the pipeline with "pipeline aborted", hiding the
            # conflict: take them now, and raise the insert's own error.
            with contextlib.suppress(psycopg.Error), conn.pipeline() as pipeline:
                pipeline.sync()
            raise
        self._written.queued = (head, keys)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        keyring = self.keyring
        used = keyring.take_used() if keyring is not None else None
        self._written.links = []
        self._written.queued = (None, None)
        try:
            ids: Sequence[int] | None = super().insert_events(
                stored_events, personal=used, **kwargs
            )
        except BaseException as e:
            if keyring is not None and used:
                keyring.raced(used)
                if used.raced:
                    raise raced_error() from e
            raise
        if keyring is not None and used:
            keyring.written(used)
        self._links.committed(self._written.links)
        return ids

    def _queue_keys(self, conn: Any, used: Used | None) -> Cursor[DictRow] | None:
        """As the SQLite recorder's check, in one statement: the new keys stored (a
        conflict skips one), and how many of the known ones are still stored."""
        if not used:
            return None
        rows = list(used.new.values())
        columns = [list(c) for c in zip(*rows, strict=True)] if rows else [[], [], [], []]
        keys: Cursor[DictRow] = conn.cursor()
        keys.execute(self._check_keys, (*columns, sorted(used.known)), prepare=False)
        return keys

    def _check_queued_keys(
        self, curs: Cursor[DictRow], keys: Cursor[DictRow] | None, used: Used | None
    ) -> None:
        if keys is None or not used:
            return
        found = keys.fetchone()
        keys.close()
        if found is None or (found["inserted"], found["known"]) != (len(used.new), len(used.known)):
            self._abort(curs, used)

    @staticmethod
    def _abort(curs: Cursor[DictRow], used: Used) -> None:
        # The library's transaction commits unless the server failed it (it keeps an
        # error raised here for after the commit), so the server is made to fail it;
        # insert_events turns that into the conflict it is.
        used.raced = True
        curs.execute("SELECT 1 / 0")
        curs.fetchall()

    def scrub_erased(self) -> bool:
        """After an erasure: rewrite the keys table, so that the deleted keys' row
        versions are gone from its files (a plain VACUUM only marks them free). The
        server's write-ahead log and archives keep them until they are recycled
        (docs/privacy.md)."""
        with self.datastore.get_connection() as conn:
            conn.autocommit = True
            try:
                conn.execute(self._vacuum_keys)
            finally:
                conn.autocommit = False
        return True

    def personal_keys(
        self,
        *,
        subjects: Sequence[str] | None = None,
        pairs: Sequence[tuple[str, str]] | None = None,
    ) -> list[KeyRow]:
        with self.datastore.transaction(commit=False) as curs:
            if subjects is not None:
                curs.execute(
                    f"{self._select_keys} WHERE subject = ANY(%s::text[])", (list(subjects),)
                )
            elif pairs is not None:
                curs.execute(
                    f"{self._select_keys} WHERE (scope, label) IN "
                    "(SELECT * FROM unnest(%s::text[], %s::text[]))",
                    ([p[0] for p in pairs], [p[1] for p in pairs]),
                )
            else:
                curs.execute(self._select_keys)
            rows = curs.fetchall()
        return [(r["subject"], r["scope"], r["label"], bytes(r["key"])) for r in rows]

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        # The library's private hook (listed in domain/eventsourcing_seam.py, pinned by
        # tests/unit/test_eventsourcing_seam.py): it reads the events' positions once the
        # insert ran, still in its transaction and under its lock on the events table,
        # which is where the chain's head is read and its rows written.
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        head, keys = self._written.queued
        self._written.queued = (None, None)
        found = head.fetchone()
        head.close()
        with curs.connection.cursor() as other:
            self._check_queued_keys(other, keys, kwargs.get("personal"))
            if ids:
                self._chain(other, ids, stored_events, found)
        return ids

    def _chain(
        self,
        curs: Cursor[DictRow],
        ids: Sequence[int],
        stored: Sequence[StoredEvent],
        found: DictRow | None,
    ) -> None:
        head = Head(found["seq"], found["position"], found["log_hash"]) if found else EMPTY
        events: list[ToChain] = [
            (p, s.originator_id.hex, s.originator_version, s.topic, s.state)  # type: ignore[union-attr]
            for p, s in zip(ids, stored, strict=True)
        ]
        previous, wanted = self._links.known(continued([(e[1], e[2]) for e in events]))
        if wanted:
            curs.execute(self._previous, ([a for a, _ in wanted], [v for _, v in wanted]))
            previous.update((r["originator_id"].hex, r["event_hash"]) for r in curs.fetchall())
        links = chain_rows(head, events, previous)
        self._write_links(curs)(links)
        self._written.links = links

    def _write_links(self, curs: Cursor[DictRow]) -> Callable[[list[ChainRow]], None]:
        def write(rows: list[ChainRow]) -> None:
            curs.execute(self._insert_links, [list(column) for column in zip(*rows, strict=True)])

        return write

    def create_table(self) -> None:
        super().create_table()
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self._meta, (META_ROW,))
            if curs.fetchone() is not None:
                return
        with self.datastore.transaction(commit=True) as curs:
            self._chain_existing(curs)

    def _chain_existing(self, curs: Cursor[DictRow]) -> None:
        """Chain the events of a store written before chaining began, once: the first
        open of such a store (a new store records that chaining began with it). Under
        the writers' lock, so that no event is written meanwhile."""
        curs.execute(self._lock_events)
        curs.execute(self._meta, (META_ROW,))
        if curs.fetchone() is not None:
            return

        def read_page(after: int) -> list[ToChain]:
            curs.execute(self._page, (after,))
            return [
                (r["notification_id"], r["originator_id"].hex, r["originator_version"],
                 r["topic"], bytes(r["state"]))
                for r in curs.fetchall()
            ]  # fmt: skip

        count, through = chain_existing(EMPTY, read_page, self._write_links(curs))
        curs.execute(self._insert_meta, (META_ROW, now(), through, count))

    def keep_policy_versions(self, versions: Sequence[KeptVersion]) -> None:
        """Keep versions on their own (the upgrade path: no event goes with them)."""
        with self.datastore.transaction(commit=True) as curs:
            self._keep(curs, versions)

    def _keep(self, curs: Cursor[DictRow], versions: Iterable[KeptVersion]) -> None:
        for v in sorted(versions, key=kept_order):
            curs.execute(
                self._keep_statement,
                (v.name, v.fingerprint, v.document, v.recorded_at, v.source),
                prepare=False,  # see _insert_stored_events
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
