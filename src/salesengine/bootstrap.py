"""The composition root: concrete classes wired from settings, never at import time."""

from __future__ import annotations

import getpass
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from eventsourcing.persistence import IntegrityError, InternalError, PersistenceError

from salesengine.application.engine import Clock, SalesEngine, utc_now
from salesengine.domain.errors import StoreMissing, StoreUnavailable
from salesengine.policies.catalog import PolicyCatalog, policy_dirs
from salesengine.store.codec import DateAsISO, OrjsonMapper
from salesengine.store.indexes import RecorderExisting, RecorderPositions
from salesengine.store.settings import store_absence, store_settings
from salesengine.store.table_creation import retry_creation

ACTOR_ENV = "SALESENGINE_ACTOR"


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
    clock: Clock = utc_now,
    actor: str | None = None,
    create: bool = True,
) -> SalesEngine:
    """The engine on the store ``db``. ``create``: make the store if it does not exist
    yet (commands that record); without it, a missing store raises ``StoreMissing``
    and nothing is created (commands that only read)."""
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
    catalog = PolicyCatalog(policy_dirs(policy_paths))

    def open_engine() -> SalesEngine:
        return SalesEngine(
            catalog,
            clock=clock,
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
