"""Private broker servers, each on its own free port: a test's streams hold only what it
sends. A server whose binary is missing, or that does not come up, skips the test (fails
it under SALESENGINE_REQUIRE_SERVICES=1)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from tests.support.brokers import NatsServer, PrivateServer, RedisServer, ServerUnavailable
from tests.support.services import service_unavailable

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
