"""The composition root: concrete classes wired from settings, never at import time."""

from __future__ import annotations

import getpass
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from salesengine.application.engine import Clock, SalesEngine, utc_now
from salesengine.codec import OrjsonMapper
from salesengine.domain.errors import StoreMissing, StoreUnavailable
from salesengine.persistence import (
    RecorderExisting,
    RecorderPositions,
    store_absence,
    store_settings,
)
from salesengine.policies.catalog import PolicyCatalog, policy_dirs

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
    for attempt in range(1, _CREATE_ATTEMPTS + 1):
        try:
            return SalesEngine(
                catalog,
                clock=clock,
                default_actor=actor or default_actor(),
                positions=RecorderPositions,
                existing=RecorderExisting,
                mapper=OrjsonMapper,
                env=dict(settings.env),
            )
        except StoreUnavailable as e:
            raise StoreUnavailable(f"{settings.display}: {e.message}") from None
        except _open_errors(settings.kind) as e:
            if attempt < _CREATE_ATTEMPTS and _created_meanwhile(e):
                continue  # another process created the tables first: they are there now
            # e.g. a file that is not a database, or a server that refuses us outright
            raise StoreUnavailable(
                f"{settings.display}: cannot open the event store: {e}"
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


# PostgreSQL's CREATE ... IF NOT EXISTS is not safe against a concurrent create: two
# processes opening a new store at once can both try, and one fails on the catalogue.
_CREATE_ATTEMPTS = 3
_DUPLICATE_STATES = {"42P07", "42710", "42P06", "23505"}  # table, object, schema, catalogue


def _created_meanwhile(error: Exception) -> bool:
    return getattr(error, "sqlstate", None) in _DUPLICATE_STATES


def _open_errors(kind: str) -> tuple[type[Exception], ...]:
    """The errors of a store that cannot be opened at all. psycopg's are looked up for a
    PostgreSQL store only, so that an SQLite run never imports it (start-up time)."""
    if kind == "postgresql":
        import psycopg

        return sqlite3.Error, psycopg.Error, OSError
    return sqlite3.Error, OSError
