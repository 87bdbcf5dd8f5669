"""The store's own database through SQLAlchemy: read models, the relay's tables and the
store's identity all live there, beside the events (and in the same PostgreSQL schema).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError

from salesengine.domain.errors import StoreUnavailable
from salesengine.store.settings import StoreSettings, quoted_ident
from salesengine.store.sqlite_wal import use_wal

# SQLite page cache of the read models' connection, and the log size (in pages) at which
# a commit copies the log into the database.
CACHE_KIB = 256 * 1024
CHECKPOINT_PAGES = 20_000


def sql_engine(settings: StoreSettings, *, reader: bool = False) -> Engine:
    """An SQLAlchemy engine on the event store's own database (and schema).

    On SQLite, a transaction takes the write lock when it begins, so that the runners
    that write the read models never meet half way. ``reader``: an engine for queries
    that mostly read (a service's reports, its token checks), whose transactions take a
    snapshot instead and wait for the write lock only at their first write, if any: in
    WAL mode, readers then neither wait for writers nor make them wait."""
    env = settings.env
    if settings.kind == "sqlite":
        path = env["SQLITE_DBNAME"]
        engine = create_engine(
            f"sqlite:///{path}", connect_args={"timeout": float(env["SQLITE_LOCK_TIMEOUT"])}
        )

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            # Read models can be rebuilt from the store, and their tracking commits with
            # their rows, so a lost tail after a power cut is simply processed again.
            use_wal(dbapi_connection, float(env["SQLITE_LOCK_TIMEOUT"]))
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")
            # A read model's rows land all over its tables (they are keyed by deal), so
            # a larger page cache, and checkpoints every ~80 MB of log rather than 4 MB,
            # write each page fewer times: about a sixth off a rebuild of 1M events.
            dbapi_connection.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN" if reader else "BEGIN IMMEDIATE")

        return engine
    user = quote(env["POSTGRES_USER"], safe="")
    password = quote(env["POSTGRES_PASSWORD"], safe="")
    auth = f"{user}:{password}@" if password else f"{user}@"
    url = (
        f"postgresql+psycopg://{auth}{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}"
        f"/{quote(env['POSTGRES_DBNAME'], safe='')}"
    )
    args: dict[str, Any] = {"connect_timeout": int(env["POSTGRES_CONNECT_TIMEOUT"])}
    if env.get("POSTGRES_SCHEMA"):
        # Quoted, so that a schema named in capitals or with a dot is the one used;
        # libpq's options take a backslash before a space or a backslash.
        path = quoted_ident(env["POSTGRES_SCHEMA"]).replace("\\", "\\\\").replace(" ", "\\ ")
        args["options"] = f"-csearch_path={path}"
    return create_engine(url, connect_args=args, pool_pre_ping=True)


def db_reason(error: SQLAlchemyError) -> str:
    """The database's own first line about a failed statement."""
    return str(getattr(error, "orig", None) or error).splitlines()[0]


@contextmanager
def store_errors(doing: str) -> Iterator[None]:
    """A database error inside, raised as ``StoreUnavailable``: "cannot <doing>: <the
    database's reason>", the one line the command line shows."""
    try:
        yield
    except SQLAlchemyError as e:
        raise StoreUnavailable(f"cannot {doing}: {db_reason(e)}") from None
