"""The faststream broker and the transport for each kind of broker URL."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from faststream.kafka import KafkaBroker
from faststream.nats import NatsBroker
from faststream.rabbit import RabbitBroker
from faststream.redis import RedisBroker

from salesengine.integration.faststream_seam import AnyBroker
from salesengine.integration.transports.base import BrokerTransport
from salesengine.integration.transports.kafka import KafkaTransport
from salesengine.integration.transports.nats import NatsTransport
from salesengine.integration.transports.rabbitmq import RabbitTransport
from salesengine.integration.transports.redis import RedisTransport
from salesengine.integration.transports.urls import BrokerURL, BrokerURLError

TRANSPORTS: dict[str, type[BrokerTransport]] = {
    "nats": NatsTransport,
    "rabbit": RabbitTransport,
    "redis": RedisTransport,
    "kafka": KafkaTransport,
}


def make_broker(url: BrokerURL, *, logger: logging.Logger | None = None) -> AnyBroker:
    """The faststream broker for a URL, not yet connected. With a ``logger``, faststream
    logs there (it logs a line per message handled at INFO; a logger set to WARNING
    keeps only the failures) instead of on standard output."""
    options: dict[str, Any] = {} if logger is None else {"logger": logger}
    if url.kind == "nats":
        return NatsBroker(url.url, connect_timeout=5, max_reconnect_attempts=10, **options)
    if url.kind == "rabbit":
        return RabbitBroker(url.url, **options)
    if url.kind == "redis":
        return RedisBroker(url.url, **options)
    if url.kind == "kafka":
        servers = urlsplit(url.url).netloc.split(",")
        return KafkaBroker(servers, acks="all", enable_idempotence=True, **options)
    raise BrokerURLError(f"broker URL '{url.url}': {url.kind} has no faststream broker")


def broker_transport(url: BrokerURL, broker: AnyBroker | None = None) -> BrokerTransport:
    """The transport for a URL, on the given broker (e.g. one under faststream's
    TestBroker, or one carrying the caller's own subscribers) or a new one."""
    return TRANSPORTS[url.kind](broker if broker is not None else make_broker(url))
