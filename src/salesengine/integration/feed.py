"""The change feed: the integration messages of the log after a position, in log order,
exactly as the relay publishes them, kept to the deals a principal reaches.

The scope is applied in the query that reads the log: the events table is filtered by
the ids of the deals in scope (``scope_sql.scoped_deal_ids``, over the ``deal_attributes``
read model). That read model lags the log by a moment, and a deal it does not hold yet
would be passed over for good once the cursor moved past its events; so a scoped read
goes no further than the position the read model has applied (``bound``), and a deal's
scope is judged by its attributes as of that position or later. A read over every deal
needs no read model and goes up to the log's head.

A page reads at most ``SCAN`` positions, so a client whose deals are few among many
pays for a bounded stretch of the log per request; ``next_after`` is where the next
read starts: past every position examined, out-of-scope events included, never past
an event of the scope not yet returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, select

from salesengine.access.principal import Scope
from salesengine.access.scope_sql import scoped_deal_ids
from salesengine.application.engine import SalesEngine
from salesengine.integration.contract import IntegrationEvent
from salesengine.integration.messages import engine_translator, outgoing
from salesengine.integration.translate import TOPICS
from salesengine.integration.transports.base import message_headers
from salesengine.projections.deal_attributes import DealAttributes
from salesengine.projections.runner import tracking
from salesengine.store.identity import store_id
from salesengine.store.log_sql import log_head, read_log
from salesengine.store.notification_log import LogReader
from salesengine.store.sql import store_errors

SCAN = 10_000  # log positions examined by one page, at most
MAX_LIMIT = 1000  # messages in one page, at most


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One message: its body as published (JSON bytes) and what its headers carry (the
    event id, type and position; ``transports.base.message_headers``), with its schema
    version and subject."""

    position: int
    id: str
    type: str
    schema_version: int
    subject: str
    body: bytes


@dataclass(frozen=True, slots=True)
class FeedPage:
    items: list[FeedItem]
    next_after: int  # the position the next read starts after
    bound: int  # how far the log could be read when this page was (see the module)

    @property
    def caught_up(self) -> bool:
        """Whether the page read everything that could be read."""
        return self.next_after >= self.bound


class ChangeFeed:
    """Pages of the feed of one store; safe to share between threads (each page has a
    translator of its own)."""

    def __init__(self, engine: SalesEngine, sql: Engine) -> None:
        self.engine = engine
        self.sql = sql
        self.store_id = store_id(sql)
        self.log = LogReader(engine, TOPICS)

    def page(self, scope: Scope, after: int, limit: int) -> FeedPage:
        """At most ``limit`` messages of the deals in ``scope`` after position ``after``."""
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be 1 to {MAX_LIMIT}, not {limit}")
        if after < 0:
            raise ValueError(f"after must be 0 or more, not {after}")
        with store_errors("read the change feed"), self.sql.connect() as conn:
            bound = self._bound(conn, scope)
            stop = min(bound, after + SCAN)
            entries = []
            if stop > after:
                deal_ids = None if scope.everything else scoped_deal_ids(scope)
                entries = read_log(
                    conn,
                    self.engine,
                    self.log.topics,
                    after=after,
                    stop=stop,
                    limit=limit,
                    deal_ids=deal_ids,
                )
        next_after = entries[-1][0] if len(entries) == limit else max(stop, after)
        return FeedPage(self._translate(entries), next_after, max(bound, after))

    def readable_past(self, scope: Scope, after: int) -> bool:
        """Whether a read for ``scope`` would now go past ``after``: the check a waiting
        client repeats. The log's head comes first, read by the recorder (on SQLite
        without the write lock the read models' connection takes)."""
        if self.log.head() <= after:
            return False
        with store_errors("read the change feed"), self.sql.connect() as conn:
            return self._bound(conn, scope) > after

    def _bound(self, conn: Connection, scope: Scope) -> int:
        if scope.everything:
            return log_head(conn, self.engine)
        query = select(tracking.c.position).where(tracking.c.name == DealAttributes.name)
        applied = conn.execute(query).scalar()
        return int(applied or 0)

    def _translate(self, entries: list[tuple[int, str, Any]]) -> list[FeedItem]:
        # A translator per page: it folds each deal's facts from the events it meets in
        # order, and a page holds every event of its deals in its stretch of the log (a
        # deal is in scope or not as a whole); one met mid-history is read back.
        translator = engine_translator(self.engine, self.log, self.store_id)
        store = str(self.store_id)
        items = []
        for position, deal_id, event in entries:
            message: IntegrationEvent | None = translator.translate(position, event)
            if message is None:
                continue
            sent = outgoing(message, deal_id, store, message.subject)
            headers = message_headers(sent)
            items.append(
                FeedItem(
                    int(headers["position"]),
                    headers["message_id"],
                    headers["event_type"],
                    message.schema_version,
                    sent.subject,
                    sent.body,
                )
            )
        return items
