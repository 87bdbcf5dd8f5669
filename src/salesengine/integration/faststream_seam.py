"""What the relay relies on of faststream beyond its public interface, in one place.

- ``AnyBroker``: faststream's base class of every broker, ``BrokerUsecase``, which it
  keeps in ``faststream._internal``: the type of "a broker of any kind".
- ``nats_client`` and ``nats_jetstream``: the nats-py connection and JetStream context
  of a connected ``NatsBroker``, which the NATS transport publishes and declares its
  stream on (through the broker's ``config.connection_state``).
- ``forget_nats_connection``: what ``NatsBroker.stop`` does once it has drained the
  connection (``_connection`` set to None, ``config.disconnect()``), for a connection
  closed outright; without it the next ``start`` would take the closed client for a
  live one and never connect again.

tests/unit/test_faststream_seam.py pins every one of them, so an upgrade of faststream
(pinned in pyproject.toml) fails there first.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from faststream._internal.broker import BrokerUsecase
from faststream.nats import NatsBroker
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

AnyBroker: TypeAlias = BrokerUsecase[Any, Any, Any]


def nats_client(broker: NatsBroker) -> NatsClient:
    """The broker's nats-py connection; an error if it has none (never connected, or
    stopped)."""
    client: NatsClient = broker.config.connection_state.connection
    return client


def nats_jetstream(broker: NatsBroker) -> JetStreamContext:
    """The JetStream context on the broker's connection; an error if it has none."""
    stream: JetStreamContext = broker.config.connection_state.stream
    return stream


def forget_nats_connection(broker: NatsBroker) -> None:
    """Leave the broker as ``stop`` leaves it, for a connection closed without it, so
    that its next ``start`` connects afresh."""
    broker._connection = None
    broker.config.disconnect()
