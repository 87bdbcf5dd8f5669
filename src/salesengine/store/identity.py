"""The store's own id, which every published id is derived from.

Deal ids in the event store derive from the deal's key alone, so two stores that both
hold ``ACME-1`` hold the same aggregate id. Published ids must not clash on a broker
shared by several stores, so each store gets a random UUID of its own, kept in one row
of the table ``store_identity`` in the store's database, and the relay mixes it into
every id it publishes. A store without one (every store written before it existed)
gets one the first time it is asked for, and keeps it: replays and other relays of the
same store publish the same ids. The aggregate ids in the event store are untouched.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from salesengine.domain.errors import StoreUnavailable
from salesengine.store.sql import db_reason
from salesengine.store.table_creation import create_tables

metadata = MetaData()
store_identity = Table(
    "store_identity",
    metadata,
    # One row, named "store": the primary key makes a second one impossible, so two
    # processes giving a new store its id at once end up with the same one.
    Column("name", String(16), primary_key=True),
    Column("store_id", String(36), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
ROW = "store"


def store_id(sql: Engine) -> UUID:
    """The store's id, made (and kept) on the first call for a store without one."""
    try:
        create_tables(sql, metadata)
        found = _read(sql)
        if found is not None:
            return found
        try:
            with sql.begin() as conn:
                conn.execute(
                    store_identity.insert().values(
                        name=ROW, store_id=str(uuid.uuid4()), created_at=datetime.now(UTC)
                    )
                )
        except IntegrityError:
            pass  # another process gave it one first: that one is the store's
        found = _read(sql)
    except SQLAlchemyError as e:
        raise StoreUnavailable(f"cannot read the store's id: {db_reason(e)}") from None
    if found is None:  # pragma: no cover - the insert above or another process made it
        raise StoreUnavailable("cannot read the store's id: its row is missing")
    return found


def _read(sql: Engine) -> UUID | None:
    with sql.connect() as conn:
        text = conn.execute(
            select(store_identity.c.store_id).where(store_identity.c.name == ROW)
        ).scalar()
    if text is None:
        return None
    try:
        return UUID(str(text))
    except ValueError:
        raise StoreUnavailable(
            f"the store's id in table store_identity is not a UUID: '{text}'"
        ) from None
