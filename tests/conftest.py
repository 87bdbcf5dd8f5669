"""Shared fixtures: a controllable clock and the stores every contract test runs on.
The helpers they use, and the tests share, are in tests/support."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from tests.support.clock import Clock
from tests.support.services import PG_URL, pg_admin, service_unavailable
from tests.support.stores import StoreFactory

# The suite runs on loaded two-core machines, where one stall of the scheduler outlasts
# hypothesis's per-example deadline (200 ms) or its data-generation budget: those measure
# the machine, not the rule under test. A test's own settings still override these.
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    try:
        pg_admin(f"CREATE SCHEMA {name}")
    except psycopg.OperationalError as e:
        service_unavailable("PostgreSQL", e)
    yield name
    pg_admin(f"DROP SCHEMA IF EXISTS {name} CASCADE")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "events.db")
    schema = request.getfixturevalue("pg_schema")
    return f"{PG_URL}?schema={schema}"


@pytest.fixture
def make_engine(store_url: str, clock: Clock) -> Iterator[StoreFactory]:
    """Engines on the same store: each call is a separate connection pool (another writer)."""
    engines: list[SalesEngine] = []

    def make(**kwargs: Any) -> SalesEngine:
        engine = build_engine(store_url, clock=kwargs.pop("clock", clock), actor="tester", **kwargs)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


@pytest.fixture
def engine(make_engine: StoreFactory) -> SalesEngine:
    return make_engine()


@pytest.fixture
def memory_engine(clock: Clock) -> Iterator[SalesEngine]:
    """An engine on an in-memory SQLite store, for domain-level tests through the service."""
    engine = build_engine("sqlite:///:memory:", clock=clock, actor="tester")
    yield engine
    engine.close()
