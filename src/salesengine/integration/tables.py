"""The relay's own tables, created in the event store's database when first needed."""

from __future__ import annotations

from sqlalchemy import Engine, MetaData
from sqlalchemy.exc import SQLAlchemyError

# PostgreSQL's CREATE TABLE IF NOT EXISTS is not safe against a concurrent create: of
# two processes opening a store at once, one can fail on the catalogue. The table is
# there when it does, so the create is simply tried again.
_ATTEMPTS = 3
_DUPLICATE_STATES = {"42P07", "42710", "23505"}  # table, object, catalogue row


def create_tables(sql: Engine, metadata: MetaData) -> None:
    """Create the tables of ``metadata`` that are missing; SQLAlchemyError otherwise."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with sql.begin() as conn:
                metadata.create_all(conn)
            return
        except SQLAlchemyError as e:
            state = getattr(getattr(e, "orig", None), "sqlstate", None)
            if attempt == _ATTEMPTS or state not in _DUPLICATE_STATES:
                raise
