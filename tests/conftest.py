"""Shared fixtures: a controllable clock and the stores every contract test runs on."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from salesengine.application.commands import Command, parse_command
from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine

# The real public data sets beside the clone (../shared/data, each with its SOURCE.md) and
# the hand-made files in tests/data.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BPI_LOG = SHARED_DATA / "bpi-challenge-2012" / "financial_log.xes.gz"
MAVEN_PIPELINE = SHARED_DATA / "maven-crm-sales-opportunities" / "sales_pipeline.csv"
TEST_DATA = Path(__file__).parent / "data"

PG_URL = os.environ.get("SALESENGINE_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_SERVICES = os.environ.get("SALESENGINE_REQUIRE_SERVICES") == "1"
REQUIRE_DATA = os.environ.get("SALESENGINE_REQUIRE_DATA") == "1"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def run_cli(*args: str, db: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``salesengine ARGS`` in a fresh interpreter, as a user runs it, on the store at
    ``db``; lines are wide, so no message is wrapped."""
    env = {**os.environ, "SALESENGINE_DB": str(db), "SALESENGINE_ACTOR": "t", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "salesengine", *args],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=cwd,
    )


class Clock:
    """The engine's recording clock, moved by the test."""

    def __init__(self, now: datetime = T0 + timedelta(days=60)) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def tick(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def service_unavailable(name: str, why: object) -> None:
    """Fail under SALESENGINE_REQUIRE_SERVICES=1 (CI), otherwise skip."""
    message = f"{name} is not reachable: {why}"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


def shared_data(path: Path) -> Path:
    """``path``, a file of ../shared/data; a bare clone has none, so the test skips saying
    why, and fails instead under SALESENGINE_REQUIRE_DATA=1 (CI), as services do."""
    if not path.is_file():
        message = (
            f"{path} is absent: this test reads the public data sets in ../shared/data "
            "beside the clone"
        )
        if REQUIRE_DATA:
            pytest.fail(message)
        pytest.skip(message)
    return path


def pg_admin(sql: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql)


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


StoreFactory = Callable[..., SalesEngine]


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


def cmd(**fields: Any) -> Command:
    """Build a command from keyword fields; ``at`` may be a datetime."""
    if isinstance(fields.get("at"), datetime):
        fields["at"] = fields["at"].isoformat()
    return parse_command(fields)


SEED_POLICIES = ("five-level", "funnel-list", "seven-stage")

FIVE_LEVEL_OPENING = {
    "key_people_known": True,
    "org_structure_confirmed": True,
    "need_determined": True,
    "visit_arranged": True,
}
