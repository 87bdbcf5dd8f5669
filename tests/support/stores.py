"""Fresh stores for a test, on SQLite or PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import UUID

import psycopg
from sqlalchemy import Engine

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.projections.runner import ProjectionRunner
from salesengine.store.identity import store_id
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.clock import Clock
from tests.support.services import PG_URL, pg_admin, service_unavailable

# The ``make_engine`` fixture (tests/conftest.py): each call is another engine on the
# test's store.
StoreFactory = Callable[..., SalesEngine]


@contextmanager
def fresh_db(kind: str, tmp_path: Path) -> Iterator[str]:
    """A new, empty store per hypothesis example: a file, or a PostgreSQL schema."""
    if kind == "sqlite":
        path = tmp_path / f"{uuid.uuid4().hex}.db"
        try:
            yield str(path)
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = f"p_{uuid.uuid4().hex[:12]}"
    try:
        pg_admin(f"CREATE SCHEMA {name}")
    except psycopg.OperationalError as e:
        service_unavailable("PostgreSQL", e)
    try:
        yield f"{PG_URL}?schema={name}"
    finally:
        pg_admin(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@contextmanager
def store_with_read_models(
    kind: str, tmp_path: Path
) -> Iterator[tuple[SalesEngine, Clock, Callable[[], Engine]]]:
    """An engine on a fresh store, its clock, and a function that catches the read models
    up and gives their database."""
    clock = Clock()
    with fresh_db(kind, tmp_path) as db:
        engine = build_engine(db, clock=clock, actor="tester")
        sql = sql_engine(store_settings(db))
        runner = ProjectionRunner(engine, sql)

        def caught_up() -> Engine:
            runner.catch_up()
            return sql

        try:
            yield engine, clock, caught_up
        finally:
            sql.dispose()
            engine.close()


def opened_store_id(url: str) -> UUID:
    """Open the store at ``url`` as a process starting up does (the engine, then the
    store's own id), close it, and give that id."""
    engine = build_engine(url, actor="t")
    sql = sql_engine(store_settings(url))
    try:
        return store_id(sql)
    finally:
        sql.dispose()
        engine.close()
