"""The composition root: concrete classes wired from settings, never at import time.

The one place the application meets its adapters: the policy catalog behind its
``PolicySource``, the store's recorders, codec and indexes behind the engine. The
store's modules are imported by ``build_engine`` itself, so that a command reading
only the policies (``policy_catalog``) does not load the event store library.
"""

from __future__ import annotations

import getpass
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from salesengine.domain.errors import StoreMissing, StoreUnavailable
from salesengine.policies.catalog import PolicyCatalog, policy_dirs

if TYPE_CHECKING:
    from salesengine.application.engine import Clock, SalesEngine

ACTOR_ENV = "SALESENGINE_ACTOR"


def policy_catalog(extra_dirs: Iterable[Path] = ()) -> PolicyCatalog:
    """The policies in force: the built-in files, then ``extra_dirs``, then the
    directories of ``SALESENGINE_POLICY_PATH``. Reading them opens no store."""
    return PolicyCatalog(policy_dirs(extra_dirs))


def default_actor() -> str:
    actor = os.environ.get(ACTOR_ENV)
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def build_engine(
    db: str | None = None,
    *,
    policy_paths: Iterable[Path] = (),
    clock: Clock | None = None,
    actor: str | None = None,
    create: bool = True,
) -> SalesEngine:
    """The engine on the store ``db``, recording with ``clock`` (UTC now by default).
    ``create``: make the store if it does not exist yet (commands that record); without
    it, a missing store raises ``StoreMissing`` and nothing is created (commands that
    only read)."""
    from eventsourcing.persistence import IntegrityError, InternalError, PersistenceError

    from salesengine.application.engine import SalesEngine, utc_now
    from salesengine.store.codec import DateAsISO, OrjsonMapper
    from salesengine.store.indexes import RecorderExisting, RecorderPositions
    from salesengine.store.settings import store_absence, store_settings
    from salesengine.store.table_creation import retry_creation

    settings = store_settings(db, creating=create)
    if not create:
        try:
            absence = store_absence(settings)
        except _open_errors(settings.kind) as e:
            raise StoreUnavailable(
                f"{settings.display}: cannot open the event store: {e}"
            ) from None
        if absence is not None:
            raise StoreMissing(absence)
    catalog = policy_catalog(policy_paths)

    def open_engine() -> SalesEngine:
        return SalesEngine(
            catalog,
            clock=clock or utc_now,
            default_actor=actor or default_actor(),
            positions=RecorderPositions,
            existing=RecorderExisting,
            mapper=OrjsonMapper,
            transcodings=[DateAsISO()],
            env=dict(settings.env),
        )

    try:
        return retry_creation(open_engine)
    except (IntegrityError, InternalError):
        # Still losing the race to create the tables after every attempt.
        raise StoreUnavailable(
            f"{settings.display}: cannot create the event store tables"
        ) from None
    except PersistenceError as e:
        raise StoreUnavailable(f"{settings.display}: cannot open the event store: {e}") from None
    except _open_errors(settings.kind) as e:
        # e.g. a file that is not a database, or a server that refuses us outright
        raise StoreUnavailable(f"{settings.display}: cannot open the event store: {e}") from None


def _open_errors(kind: str) -> tuple[type[Exception], ...]:
    """The errors of a store that cannot be opened at all. psycopg's are looked up for a
    PostgreSQL store only, so that an SQLite run never imports it (start-up time)."""
    if kind == "postgresql":
        import psycopg

        return sqlite3.Error, psycopg.Error, OSError
    return sqlite3.Error, OSError
