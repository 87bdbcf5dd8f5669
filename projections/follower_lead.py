"""Which follower keeps the read models current on PostgreSQL: the one holding a session
advisory lock. Every server worker runs a follower; one leads, the others wait to take
over when its session ends (a stopped or dead worker, a dropped connection)."""

from __future__ import annotations

import time

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from salesengine.domain.errors import StoreUnavailable
from salesengine.store.sql import db_reason

LEAD_OFFSET = 2  # the lead's key: the runners' lock plus this (plus one is the shadow build's)
CHECK_SECONDS = 5.0  # how often a leader makes sure its session, and so its lock, lives


class Lead:
    """The lead, taken on ``conn`` under ``key``; ``conn`` None: there is only one follower
    (SQLite), which always leads."""

    def __init__(self, conn: Connection | None, key: int = 0) -> None:
        self.conn = conn
        self.key = key
        self._taken = conn is None
        self._checked = time.monotonic()

    def take(self) -> bool:
        """Whether this follower leads now; it does not wait for the lead."""
        if self._taken:  # always, without a connection
            return True
        assert self.conn is not None
        try:
            got = self.conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key})
            self._taken = bool(got.scalar())
            # A session lock outlives its transaction: none is left open while it is held.
            self.conn.commit()
        except SQLAlchemyError as e:
            raise StoreUnavailable(f"cannot take the read models' lead: {db_reason(e)}") from None
        self._checked = time.monotonic()
        return self._taken

    def held(self) -> bool:
        """Whether this follower still leads. A session that ended took the lock with it
        and another follower may lead by now: that is an error for the caller to retry."""
        if self.conn is None or not self._taken:
            return self._taken
        if time.monotonic() - self._checked >= CHECK_SECONDS:
            try:
                self.conn.execute(text("SELECT 1"))
                self.conn.commit()
            except SQLAlchemyError as e:
                self._taken = False
                raise StoreUnavailable(
                    f"lost the read models' lead with its connection: {db_reason(e)}"
                ) from None
            self._checked = time.monotonic()
        return True

    def release(self) -> None:
        if self.conn is None:
            return
        try:
            if self._taken:
                self.conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                self.conn.commit()
        except SQLAlchemyError:
            # The session is gone, and the lock with it; the pool discards the connection.
            self.conn.invalidate()
        finally:
            self._taken = False
            self.conn.close()
