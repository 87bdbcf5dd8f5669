"""Putting an SQLite store in WAL mode when several processes open it at once.

Switching a new database to WAL needs it to itself, and SQLite answers "database is
locked" at once rather than calling the busy handler, so processes opening a new store
together would fail. A database already in WAL mode answers without taking the lock.
"""

from __future__ import annotations

import random
import sqlite3
import time

from eventsourcing.sqlite import SQLITE3_DEFAULT_LOCK_TIMEOUT


def use_wal(connection: sqlite3.Connection, timeout: float) -> None:
    """Put the database in WAL mode, trying again for up to ``timeout`` seconds while
    another connection holds it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() >= deadline:
                raise
            time.sleep(random.uniform(0.005, 0.05))


def wal_before_opening(db_name: str, lock_timeout: float | None) -> None:
    """Put the file ``db_name`` in WAL mode before the library's pool opens it: the
    pool switches it itself, without waiting for a racing process."""
    timeout = float(lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT)
    connection = sqlite3.connect(db_name, uri=True, timeout=timeout, isolation_level=None)
    try:
        use_wal(connection, timeout)
    finally:
        connection.close()
