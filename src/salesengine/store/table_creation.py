"""Creating tables at start-up, safe against another process doing the same at once.

PostgreSQL's ``CREATE ... IF NOT EXISTS`` is not safe against a concurrent create: of
two processes opening a new store at once, one can fail on the catalog. The tables
are there when it does, so the step is simply tried again. Every start-up step that
creates tables (the event store's, the relay's, the store's identity) goes through
``retry_creation``; the read models take an advisory lock instead.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from eventsourcing.persistence import IntegrityError, InternalError

if TYPE_CHECKING:
    from sqlalchemy import Engine, MetaData

T = TypeVar("T")

ATTEMPTS = 5
# What PostgreSQL says when another process created the thing first: a table, another
# object (a type, an index), a schema, or a row of the catalog.
DUPLICATE_STATES = frozenset({"42P07", "42710", "42P06", "23505"})


def lost_creation_race(error: BaseException) -> bool:
    """Whether the error is another process having created the tables first: the
    driver's own error, or one eventsourcing or SQLAlchemy wrapped it in. eventsourcing
    reports the race at start-up as an IntegrityError, or an InternalError once it
    aborted the transaction."""
    if isinstance(error, IntegrityError | InternalError):
        return True
    seen: BaseException | None = error
    while seen is not None:
        if getattr(seen, "sqlstate", None) in DUPLICATE_STATES:
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def retry_creation(create: Callable[[], T]) -> T:
    """``create()``, tried again (after a short random pause, so that racing processes
    spread out) while it loses the race to create the tables; its last error otherwise."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return create()
        except Exception as e:
            if attempt == ATTEMPTS or not lost_creation_race(e):
                raise
            time.sleep(random.uniform(0.01, 0.1))
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def create_tables(sql: Engine, metadata: MetaData) -> None:
    """Create the tables of ``metadata`` that are missing; SQLAlchemyError otherwise."""

    def create() -> None:
        with sql.begin() as conn:
            metadata.create_all(conn)

    retry_creation(create)
