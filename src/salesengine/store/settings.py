"""Where events are stored: a database URL turned into the library's settings.

The embedded default is an SQLite file; PostgreSQL is chosen by a ``postgresql://``
URL. Both use eventsourcing's own recorders, which measured several times faster
than its SQLAlchemy adapter on this workload.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from eventsourcing.utils import get_topic

from salesengine.domain.errors import StoreUnavailable
from salesengine.store.sqlite_recorder import BatchSQLiteRecorder

DB_ENV = "SALESENGINE_DB"
DEFAULT_DB = "salesengine.db"
# The recorder for PostgreSQL, named by its topic: its module imports psycopg, which an
# SQLite run should not pay for at start-up.
POSTGRES_RECORDER_TOPIC = "salesengine.store.postgres_recorder:PostgresRecorder"


@dataclass(frozen=True, slots=True)
class StoreSettings:
    url: str
    kind: str  # "sqlite" or "postgresql"
    env: Mapping[str, str]

    @property
    def display(self) -> str:
        return without_password(self.url)


# user:password@ of a URL: everything from the user's colon to the last @ before the
# query, so that a password holding "@" or "/" is masked whole, and a URL that does not
# parse (an unclosed [, a bad port) is masked all the same.
_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\[]*:)[^?#]*@")


def without_password(url: str) -> str:
    """The URL with any password masked, for messages."""
    return _PASSWORD.sub(r"\1***@", url, count=1)


def quoted_ident(name: str) -> str:
    """``name`` as an SQL identifier that matches it exactly (case, dots and all)."""
    return '"' + name.replace('"', '""') + '"'


def resolve_db(url: str | None) -> str:
    return url or os.environ.get(DB_ENV) or DEFAULT_DB


def store_settings(url: str | None = None, *, creating: bool = True) -> StoreSettings:
    """Parse a database URL (or plain SQLite path) into persistence settings.

    ``creating``: the store may be made here, so an SQLite file's directory must exist
    (a store only read is looked for by ``find_store``, which says what is missing)."""
    url = resolve_db(url)
    shown = without_password(url)  # messages never show a password
    try:
        scheme = urlsplit(url).scheme if "://" in url else ""
    except ValueError as e:  # an unclosed [ of an IPv6 host
        raise StoreUnavailable(f"database URL '{shown}': {e}") from None
    if scheme in ("postgresql", "postgres"):
        return _postgres(url)
    if scheme in ("", "sqlite"):
        return _sqlite(url, creating)
    raise StoreUnavailable(
        f"unsupported database URL '{shown}': use a file path, sqlite:///PATH or postgresql://..."
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
    shown = without_password(url)
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        raise StoreUnavailable(f"database URL '{shown}' names no database")
    try:
        port = parts.port or 5432
    except ValueError:
        raise StoreUnavailable(f"database URL '{shown}': the port is not a number") from None
    timeout = query.get("connect_timeout", ["5"])[0]
    if not timeout.isdigit():
        raise StoreUnavailable(f"database URL '{shown}': connect_timeout must be whole seconds")
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
