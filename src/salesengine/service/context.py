"""What a running service holds: the engine on its store, the read models' connection,
the token store, and the thread that keeps the read models current."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine

from salesengine.access.tokens import TokenStore
from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.domain.policy import FunnelPolicy
from salesengine.projections.online_rebuild import rebuild_online
from salesengine.projections.runner import ProjectionRunner, ProjectionStatus
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine, store_errors

log = logging.getLogger("salesengine.service")


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """``db``: the store (an SQLite path or a postgresql:// URL; it must exist).
    ``follow``: keep the read models current in a background thread (every worker has
    one; on PostgreSQL one leads and the others wait to take over). ``poll_seconds``:
    how often it catches up, at most. ``max_body``: the largest request body accepted,
    in bytes; ``max_batch``: the most commands in one request."""

    db: str | None = None
    policy_dirs: tuple[Path, ...] = ()
    follow: bool = True
    poll_seconds: float = 0.25
    max_body: int = 1_000_000
    max_batch: int = 1000


@dataclass(frozen=True, slots=True)
class Freshness:
    """How far the read models were behind the log when a response was read."""

    log_position: int
    behind: int


@dataclass
class ServiceContext:
    settings: ServiceSettings
    engine: SalesEngine
    sql: Engine  # the runner's, which writes the read models
    reads: Engine  # the queries', and the tokens': on SQLite it reads without the write lock
    runner: ProjectionRunner
    tokens: TokenStore
    policies: dict[str, FunnelPolicy]
    _stop: threading.Event = field(default_factory=threading.Event)
    _follower: threading.Thread | None = None
    _rebuilder: threading.Thread | None = None

    @classmethod
    def open(cls, settings: ServiceSettings) -> ServiceContext:
        """The service's hold on an existing store (``StoreMissing`` if there is none)."""
        engine = build_engine(settings.db, policy_paths=settings.policy_dirs, create=False)
        where = store_settings(settings.db)
        sql, reads = sql_engine(where), sql_engine(where, reader=True)
        # A read model whose definition changed is rebuilt beside the old one, which
        # keeps answering meanwhile (start), not emptied and replayed in place.
        runner = ProjectionRunner(engine, sql, reads=reads, reset_outdated=False)
        catalog = engine.catalog
        policies = {name: catalog.get(name) for name in catalog.names()}
        tokens = TokenStore(reads, clock=engine.clock)
        return cls(settings, engine, sql, reads, runner, tokens, policies)

    def start(self) -> None:
        """Catch the read models up, then keep them current in the background. Read
        models stored under an older definition keep answering (and report how far
        behind they fall) while the new ones are built online and swapped in."""
        outdated = self.runner.outdated()
        if outdated:
            log.warning(
                "read models %s were built by another version: rebuilding them online",
                ", ".join(outdated),
            )
            self._rebuilder = threading.Thread(
                target=self._rebuild, name="salesengine-rebuild", daemon=True
            )
            self._rebuilder.start()
        self.runner.catch_up()
        if self.settings.follow:
            self._follower = threading.Thread(
                target=self._follow, name="salesengine-projections", daemon=True
            )
            self._follower.start()

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self.runner.follow(poll_seconds=self.settings.poll_seconds, stop=self._stop.is_set)
            except Exception:
                # The store went away for a moment, or a lock was held too long: say so,
                # wait, and carry on; the responses' X-Read-Models-Behind shows the lag.
                log.exception("read models: catching up failed; trying again")
                self._stop.wait(max(self.settings.poll_seconds, 1.0))

    def _rebuild(self) -> None:
        try:
            result = rebuild_online(self.engine, store_settings(self.settings.db))
        except Exception:
            # Kept in its shadow: the next start resumes it. The old models still answer.
            log.exception("read models: the online rebuild stopped; it resumes on restart")
            return
        log.info(
            "read models rebuilt online from position %s and swapped in at %s",
            result.resumed_from,
            result.position,
        )

    def wait_for_rebuild(self, timeout: float | None = None) -> None:
        if self._rebuilder is not None:
            self._rebuilder.join(timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._follower is not None:
            self._follower.join(timeout=10)
        self.engine.close()
        self.sql.dispose()
        self.reads.dispose()

    def read_model_status(self, conn: Connection | None = None) -> list[ProjectionStatus]:
        with store_errors("read the read models' positions"):
            return self.runner.status(conn)

    def freshness(self, conn: Connection | None = None) -> Freshness:
        return self.freshness_of(self.read_model_status(conn))

    @staticmethod
    def freshness_of(statuses: list[ProjectionStatus]) -> Freshness:
        head = max((s.head for s in statuses), default=0)
        return Freshness(head, max((s.behind for s in statuses), default=0))
