"""The events a webhook receiver refused, kept in the store's own database.

A receiver that answers an event with a 4xx other than 408, 425 or 429 (or a 3xx) will
give the same answer to every retry, so the relay records the refusal here and moves
on: its position may then pass the event, and this table is where the event is still
known as not delivered. One row per refusal (a replay refused again adds a row), with
what is needed to find the event again (its log position, for ``relay
--from-position``) and to see why (the status and the start of the answer's body).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    inspect,
    select,
)

from salesengine.store.sql import store_errors
from salesengine.store.table_creation import create_tables

EXCERPT_CHARS = 500  # of the receiver's answer, kept with the refusal

metadata = MetaData()
webhook_failures = Table(
    "salesengine_webhook_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("relay", String(128), nullable=False, index=True),  # the relay's --name
    Column("position", BigInteger, nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("deal_id", String(36), nullable=False),
    Column("url", String(2048), nullable=False),  # without a password
    Column("status", Integer, nullable=False),
    Column("response", String(EXCERPT_CHARS), nullable=False),
    Column("failed_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True, slots=True)
class Failure:
    """One refused delivery."""

    relay: str
    position: int
    event_id: str
    event_type: str
    deal_id: str
    url: str
    status: int
    response: str
    failed_at: datetime


def excerpt(body: bytes) -> str:
    """The start of a receiver's answer, as one line of text."""
    text = body[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")
    return " ".join(text.split())[:EXCERPT_CHARS]


def withheld(body: bytes) -> str:
    """What is kept of the answer to an event that carries personal data: its length,
    not its text. A receiver that quotes the event would otherwise leave the values
    here in plain, where erasing their subject (docs/privacy.md) cannot reach them."""
    return f"(answer of {len(body):,} bytes withheld: the event carries personal data)"


class FailureLog:
    """Refused deliveries, in the table ``salesengine_webhook_failures``."""

    def __init__(self, sql: Engine, *, create: bool = True) -> None:
        """``create=False`` only reads: a store no relay has refused anything for may
        not have the table, and reads as having no refusals."""
        self.sql = sql
        if not create:
            return
        with store_errors("create the webhook failures table"):
            create_tables(sql, metadata)

    def record(self, failure: Failure) -> None:
        doing = f"record the refused delivery of the event at position {failure.position}"
        with store_errors(doing), self.sql.begin() as conn:
            conn.execute(
                webhook_failures.insert().values(
                    relay=failure.relay,
                    position=failure.position,
                    event_id=failure.event_id,
                    event_type=failure.event_type,
                    deal_id=failure.deal_id,
                    url=failure.url[:2048],
                    status=failure.status,
                    response=failure.response[:EXCERPT_CHARS],
                    failed_at=failure.failed_at,
                )
            )

    def read(self, relay: str | None = None, since: int | None = None) -> list[Failure]:
        """The refusals (of one relay's, from a log position on), in log order."""
        query = select(webhook_failures).order_by(
            webhook_failures.c.position, webhook_failures.c.id
        )
        if relay is not None:
            query = query.where(webhook_failures.c.relay == relay)
        if since is not None:
            query = query.where(webhook_failures.c.position >= since)
        with store_errors("read the webhook failures table"), self.sql.connect() as conn:
            if not inspect(conn).has_table(webhook_failures.name):
                return []
            rows = conn.execute(query).mappings().all()
        return [
            Failure(
                relay=row["relay"],
                position=int(row["position"]),
                event_id=row["event_id"],
                event_type=row["event_type"],
                deal_id=row["deal_id"],
                url=row["url"],
                status=int(row["status"]),
                response=row["response"],
                failed_at=_utc(row["failed_at"]),
            )
            for row in rows
        ]


def _utc(value: datetime) -> datetime:
    """SQLite gives back naive datetimes: they were stored as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
