"""The signed checkpoints a store keeps: each one's note, as signed, in its own table.

A checkpoint is only ever added; the note is the whole record (its size and root are
in it, and its signature covers them), the other columns are there to find it.
"""

from __future__ import annotations

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
    Text,
    select,
)

from salesengine.audit_verifier import Checkpoint
from salesengine.store.table_creation import create_tables

metadata = MetaData()
checkpoints = Table(
    "salesengine_audit_checkpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("size", BigInteger, nullable=False),
    Column("key_name", String(200), nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def keep(sql: Engine, checkpoint: Checkpoint, key_name: str) -> None:
    create_tables(sql, metadata)
    with sql.begin() as conn:
        conn.execute(
            checkpoints.insert().values(
                size=checkpoint.size,
                key_name=key_name,
                note=checkpoint.note,
                created_at=datetime.now(UTC),
            )
        )


def kept(sql: Engine) -> list[tuple[int, str]]:
    """Every kept checkpoint's (id, note), oldest first. A note that no longer parses is
    returned as it is: the verification names it."""
    create_tables(sql, metadata)
    with sql.connect() as conn:
        rows = conn.execute(select(checkpoints.c.id, checkpoints.c.note).order_by(checkpoints.c.id))
        return [(int(r[0]), str(r[1])) for r in rows]
