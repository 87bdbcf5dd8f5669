"""The services the tests reach (PostgreSQL, the brokers): skipped when one is down,
except under SALESENGINE_REQUIRE_SERVICES=1 (CI), where that fails the test."""

from __future__ import annotations

import os

import psycopg
import pytest

PG_URL = os.environ.get("SALESENGINE_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_SERVICES = os.environ.get("SALESENGINE_REQUIRE_SERVICES") == "1"


def service_unavailable(name: str, why: object) -> None:
    """Fail under SALESENGINE_REQUIRE_SERVICES=1 (CI), otherwise skip."""
    message = f"{name} is not reachable: {why}"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


def pg_admin(sql: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(sql)
