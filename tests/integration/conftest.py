"""Private broker servers, each on its own free port: a test's streams hold only what it
sends. A server whose binary is missing, or that does not come up, skips the test (fails
it under SALESENGINE_REQUIRE_SERVICES=1). And the stores that backups and restores are
tried on (tests/integration/test_backup*.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import psycopg
import pytest

from salesengine.store import pg_backup
from tests.support.backup_stores import Stores
from tests.support.brokers import NatsServer, PrivateServer, RedisServer, ServerUnavailable
from tests.support.services import PG_URL, pg_admin, service_unavailable

Server = TypeVar("Server", bound=PrivateServer)


def running(make: Callable[[], Server], name: str) -> Iterator[Server]:
    """Start a private server, killed at the end whatever happened."""
    try:
        server = make()
        server.start()
    except ServerUnavailable as e:
        service_unavailable(name, e)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A private nats-server with JetStream."""
    yield from running(lambda: NatsServer(tmp_path / "nats"), "nats-server")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private redis-server with an append-only file."""
    yield from running(lambda: RedisServer(tmp_path / "redis"), "redis-server")


@pytest.fixture(scope="module")
def restore_database() -> Iterator[str]:
    """A database beside the shared test database, for restores: the backed-up schemas
    are not in it. One per module: dropping a database makes the server checkpoint."""
    for tool in ("pg_dump", "pg_restore", "psql"):
        if pg_backup.find_tool(tool) is None:
            service_unavailable(tool, "not installed (the PostgreSQL client)")
    database = f"r_{uuid.uuid4().hex[:12]}"
    try:
        pg_admin(f"CREATE DATABASE {database} TEMPLATE template0")
    except psycopg.OperationalError as e:
        service_unavailable("PostgreSQL", e)
    try:
        yield urlsplit(PG_URL)._replace(path=f"/{database}").geturl()
    finally:
        pg_admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    """A source store and an empty target of the same kind (on PostgreSQL, a schema of
    the shared test database and one of another database)."""
    if request.param == "sqlite":
        yield Stores(str(tmp_path / "source.db"), str(tmp_path / "restored.db"), tmp_path / "b")
        return
    source = request.getfixturevalue("pg_schema")
    database = request.getfixturevalue("restore_database")
    target = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {target}")  # as an operator makes a store's schema
    try:
        yield Stores(f"{PG_URL}?schema={source}", f"{database}?schema={target}", tmp_path / "b")
    finally:
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {target} CASCADE")
