"""Each relay's tracking position, in the event store's own database (``relay_positions``,
one row per relay name)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, Engine, MetaData, String, Table, select

from salesengine.store.sql import store_errors
from salesengine.store.table_creation import create_tables

metadata = MetaData()
relay_positions = Table(
    "relay_positions",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


class PositionStore:
    """Each relay's tracking position, in the event store's own database."""

    def __init__(self, sql: Engine, name: str) -> None:
        self.sql = sql
        self.name = name
        with store_errors("create the relay's table"):
            create_tables(sql, metadata)

    def load(self) -> int:
        with store_errors("read the relay's position"), self.sql.connect() as conn:
            found = conn.execute(
                select(relay_positions.c.position).where(relay_positions.c.name == self.name)
            ).scalar()
        return int(found or 0)

    def save(self, position: int) -> None:
        now = datetime.now(UTC)
        with store_errors("store the relay's position"), self.sql.begin() as conn:
            moved = conn.execute(
                relay_positions.update()
                .where(relay_positions.c.name == self.name)
                .values(position=position, updated_at=now)
            ).rowcount
            if not moved:
                conn.execute(
                    relay_positions.insert().values(
                        name=self.name, position=position, updated_at=now
                    )
                )
