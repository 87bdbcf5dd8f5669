"""Where events are stored: a database URL turned into the library's settings.

The embedded default is an SQLite file; PostgreSQL is chosen by a ``postgresql://``
URL. Both use eventsourcing's own recorders, which measured several times faster
than its SQLAlchemy adapter on this workload.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from eventsourcing.utils import get_topic

from salesengine.domain.errors import StoreUnavailable
from salesengine.domain.policy import KeptVersion

DB_ENV = "SALESENGINE_DB"
DEFAULT_DB = "salesengine.db"
# Every policy version the store has seen, beside its events (docs/metrics.md, "Policy
# versions"): written in the transaction of the first event decided under it.
POLICY_VERSIONS_TABLE = "salesengine_policy_versions"
# The recorder for PostgreSQL, named by its topic: its module imports psycopg, which an
# SQLite run should not pay for at start-up.
POSTGRES_RECORDER_TOPIC = "salesengine.postgres_recorder:PostgresRecorder"


@dataclass(frozen=True, slots=True)
class StoreSettings:
    url: str
    kind: str  # "sqlite" or "postgresql"
    env: Mapping[str, str]

    @property
    def display(self) -> str:
        return without_password(self.url)


def without_password(url: str) -> str:
    """The URL with any password masked, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def resolve_db(url: str | None) -> str:
    return url or os.environ.get(DB_ENV) or DEFAULT_DB


def store_settings(url: str | None = None, *, creating: bool = True) -> StoreSettings:
    """Parse a database URL (or plain SQLite path) into persistence settings.

    ``creating``: the store may be made here, so an SQLite file's directory must exist
    (a store only read is looked for by ``find_store``, which says what is missing)."""
    url = resolve_db(url)
    try:
        scheme = urlsplit(url).scheme if "://" in url else ""
    except ValueError as e:  # an unclosed [ of an IPv6 host
        raise StoreUnavailable(f"database URL '{url}': {e}") from None
    if scheme in ("postgresql", "postgres"):
        return _postgres(url)
    if scheme in ("", "sqlite"):
        return _sqlite(url, creating)
    raise StoreUnavailable(
        f"unsupported database URL '{url}': use a file path, sqlite:///PATH or postgresql://..."
    )


def _sqlite(url: str, creating: bool = True) -> StoreSettings:
    if url.startswith("sqlite:") and not url.startswith("sqlite:///"):
        raise StoreUnavailable(f"database URL '{url}': use sqlite:///PATH")
    path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else url
    if not path:
        raise StoreUnavailable(f"database URL '{url}' names no file")
    if path != ":memory:" and not path.startswith("file:"):
        parent = Path(path).expanduser().resolve().parent
        if creating and not parent.is_dir():
            raise StoreUnavailable(f"cannot create database '{path}': {parent} does not exist")
        path = str(Path(path).expanduser())
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": path,
        "SQLITE_LOCK_TIMEOUT": "30",
        "APPLICATION_RECORDER_TOPIC": get_topic(BatchSQLiteRecorder),
    }
    return StoreSettings(url=url, kind="sqlite", env=env)


def _postgres(url: str) -> StoreSettings:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        raise StoreUnavailable(f"database URL '{url}' names no database")
    try:
        port = parts.port or 5432
    except ValueError:
        raise StoreUnavailable(f"database URL '{url}': the port is not a number") from None
    timeout = query.get("connect_timeout", ["5"])[0]
    if not timeout.isdigit():
        raise StoreUnavailable(f"database URL '{url}': connect_timeout must be whole seconds")
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_CONNECT_TIMEOUT": timeout,
        "POSTGRES_SCHEMA": query.get("schema", [""])[0],
        "POSTGRES_POOL_SIZE": "5",
        "POSTGRES_MAX_OVERFLOW": "10",
        "APPLICATION_RECORDER_TOPIC": POSTGRES_RECORDER_TOPIC,
    }
    return StoreSettings(url=url, kind="postgresql", env=env)


# The events table, as eventsourcing names it: on PostgreSQL after the application
# (``SalesEngine.name``), on SQLite its recorder's default. A store exists once it does.
EVENTS_TABLE = {"sqlite": "stored_events", "postgresql": "salesengine_events"}
MISSING_HINT = "check --db or SALESENGINE_DB; commands that record events create a store"


def store_absence(settings: StoreSettings) -> str | None:
    """Why no event store is where the settings point (None: there is one), found
    without creating anything: a command that only reads must not leave an empty store
    behind a mistyped path. An in-memory store is always new, never missing."""
    if settings.kind == "sqlite":
        name = settings.env["SQLITE_DBNAME"]
        if name == ":memory:" or name.startswith("file:"):
            return None
        if not Path(name).exists():
            return f"no event store at {name}: no such file ({MISSING_HINT})"
        database = sqlite3.connect(name)
        try:
            found = database.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                (EVENTS_TABLE["sqlite"],),
            ).fetchone()
        finally:
            database.close()
        if found is None:
            return f"no event store at {name}: the file holds no event store ({MISSING_HINT})"
        return None
    import psycopg

    env = settings.env
    schema = env["POSTGRES_SCHEMA"] or "public"
    with psycopg.connect(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=int(env["POSTGRES_PORT"]),
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
        connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"]),
    ) as connection:
        found = connection.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            (schema, EVENTS_TABLE["postgresql"]),
        ).fetchone()
    if found is None:
        return (
            f"no event store at {settings.display}: schema {schema!r} holds no event store "
            f"({MISSING_HINT})"
        )
    return None


class BatchSQLiteRecorder(SQLiteApplicationRecorder):
    """Inserts a batch with one executemany instead of one INSERT per event, and keeps
    the policy versions the batch's events were decided under.

    The library's recorder inserts row by row to return each notification id; the
    engine never uses them (readers page the log by rowid), so the whole batch goes in
    one statement, in the same transaction and the same order.
    """

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {POLICY_VERSIONS_TABLE} ("
            "policy TEXT NOT NULL, fingerprint TEXT NOT NULL, document TEXT NOT NULL, "
            "recorded_at TEXT NOT NULL, source TEXT NOT NULL, "
            "PRIMARY KEY (policy, fingerprint))",
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        self._keep(c, kwargs.get("policy_versions", ()))
        c.executemany(
            self.insert_events_statement,
            [
                (
                    s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
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


def kept_order(version: KeptVersion) -> tuple[str, datetime, str]:
    """Versions by policy, then in the order the store first kept them."""
    return (version.name, version.recorded_at, version.fingerprint)


class RecorderExisting:
    """Which of many aggregates exist, in one query per few hundred ids."""

    CHUNK = 500

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.recorder = recorder

    def __call__(self, ids: Collection[UUID]) -> set[UUID]:
        recorder: Any = self.recorder
        found: set[UUID] = set()
        wanted = list(ids)
        for start in range(0, len(wanted), self.CHUNK):
            part = wanted[start : start + self.CHUNK]
            if isinstance(recorder, SQLiteApplicationRecorder):
                marks = ",".join("?" * len(part))
                sql = (
                    f"SELECT originator_id FROM {recorder.events_table_name} "
                    f"WHERE originator_version=1 AND originator_id IN ({marks})"
                )
                with recorder.datastore.transaction(commit=False) as c:
                    c.execute(sql, [i.hex for i in part])
                    found.update(UUID(r[0]) for r in c.fetchall())
            elif _is_postgres(recorder):
                from psycopg.sql import SQL, Identifier

                statement = SQL(
                    "SELECT originator_id FROM {0}.{1} "
                    "WHERE originator_version=1 AND originator_id = ANY(%s)"
                ).format(
                    Identifier(recorder.datastore.schema),
                    Identifier(recorder.events_table_name),
                )
                with recorder.datastore.transaction(commit=False) as curs:
                    curs.execute(statement, (part,))
                    found.update(UUID(str(r["originator_id"])) for r in curs.fetchall())
            else:
                return set(ids)  # unknown recorder: claim all exist, so each is read
        return found


class RecorderPositions:
    """Global notification-log positions of one deal's events, read from the recorder."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.recorder = recorder

    def __call__(self, originator_id: UUID) -> dict[int, int]:
        recorder: Any = self.recorder
        if isinstance(recorder, SQLiteApplicationRecorder):
            sql = (
                f"SELECT originator_version, rowid FROM {recorder.events_table_name} "
                "WHERE originator_id=?"
            )
            with recorder.datastore.transaction(commit=False) as c:
                c.execute(sql, (originator_id.hex,))
                return {int(r[0]): int(r[1]) for r in c.fetchall()}
        if _is_postgres(recorder):
            from psycopg.sql import SQL, Identifier

            statement = SQL(
                "SELECT originator_version, notification_id FROM {0}.{1} WHERE originator_id=%s"
            ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
            with recorder.datastore.transaction(commit=False) as curs:
                curs.execute(statement, (originator_id,))
                return {
                    int(r["originator_version"]): int(r["notification_id"]) for r in curs.fetchall()
                }
        return {}


def _is_postgres(recorder: ApplicationRecorder) -> bool:
    """Asked only of a recorder that is not SQLite's: psycopg and eventsourcing.postgres
    take a tenth of a second to import, which an SQLite run should not pay at start-up."""
    from eventsourcing.postgres import PostgresApplicationRecorder

    return isinstance(recorder, PostgresApplicationRecorder)
