"""The private parts of faststream the relay relies on, pinned.

Each test states one thing ``salesengine.integration.faststream_seam`` takes for
granted, with no server: the broker's connection is a nats-py client that never
connects. A new version of faststream that changes any of them fails here first; the
pin in pyproject.toml moves only once this file passes.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version
from typing import Any, get_origin

import nats
import pytest
from faststream.kafka import KafkaBroker
from faststream.nats import NatsBroker
from faststream.rabbit import RabbitBroker
from faststream.redis import RedisBroker
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from salesengine.integration.faststream_seam import (
    AnyBroker,
    forget_nats_connection,
    nats_client,
    nats_jetstream,
)

FASTSTREAM = version("faststream")


@pytest.mark.parametrize("broker", [NatsBroker, RabbitBroker, RedisBroker, KafkaBroker])
def test_every_broker_derives_from_the_base_the_seam_names(broker: type[Any]) -> None:
    base = get_origin(AnyBroker)
    assert isinstance(base, type), f"faststream {FASTSTREAM}: AnyBroker is no generic class"
    assert issubclass(broker, base), (
        f"faststream {FASTSTREAM}: {broker.__name__} no longer derives from "
        "faststream._internal.broker.BrokerUsecase"
    )


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[NatsClient]:
    """Each client ``NatsBroker`` connects, in order: nats-py clients with no server."""
    made: list[NatsClient] = []

    async def connect(**_options: Any) -> NatsClient:
        made.append(NatsClient())
        return made[-1]

    monkeypatch.setattr(nats, "connect", connect)
    return made


def test_a_connected_broker_hands_over_its_client_and_jetstream(
    connects: list[NatsClient],
) -> None:
    broker = NatsBroker("nats://127.0.0.1:1")
    for reach in (nats_client, nats_jetstream):
        with pytest.raises(Exception, match="not available"):
            reach(broker)  # never connected
    asyncio.run(broker.connect())
    (client,) = connects
    assert nats_client(broker) is client, (
        f"faststream {FASTSTREAM}: NatsBroker.config.connection_state.connection "
        "is not the broker's nats-py client"
    )
    stream = nats_jetstream(broker)
    assert isinstance(stream, JetStreamContext), (
        f"faststream {FASTSTREAM}: NatsBroker.config.connection_state.stream "
        "is not a JetStream context"
    )
    assert stream._nc is client


def test_a_broker_whose_stop_failed_connects_afresh_once_forgotten(
    connects: list[NatsClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = NatsBroker("nats://127.0.0.1:1")

    async def run() -> None:
        await broker.connect()
        (client,) = connects

        async def refuse() -> None:
            raise RuntimeError("drain refused while reconnecting")

        monkeypatch.setattr(client, "drain", refuse)
        with pytest.raises(RuntimeError, match="drain refused"):
            await broker.stop()
        # The failed stop left the closed client in place: connect would keep it.
        assert nats_client(broker) is client
        assert await broker.connect() is client and len(connects) == 1
        forget_nats_connection(broker)
        with pytest.raises(Exception, match="not available"):
            nats_client(broker)
        assert await broker.connect() is connects[-1] and len(connects) == 2, (
            f"faststream {FASTSTREAM}: NatsBroker.connect does not connect again once "
            "_connection is None and config.disconnect() has run"
        )
        assert nats_client(broker) is connects[-1]

    asyncio.run(run())
