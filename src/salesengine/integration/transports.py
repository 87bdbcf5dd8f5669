"""One faststream broker per URL scheme, each publishing with the broker's own ack.

- ``nats://``: JetStream stream ``SALESENGINE`` over ``salesengine.>``; the event id is
  the ``Nats-Msg-Id``, so JetStream drops a republished event within its duplicate
  window (two minutes by default).
- ``amqp://``: durable topic exchange ``salesengine``, routing key ``deal.<policy>.<event>``,
  persistent messages with publisher confirms; the event id is the AMQP ``message_id``.
- ``redis://``: one stream per subject (``XADD``); the event id travels in the headers.
- ``kafka://host:port[,host:port]``: one topic per subject, keyed by deal (so one
  partition holds a deal's events in order), ``acks=all`` with an idempotent producer.
- ``memory://``: no broker; subscribers registered in the same process are called.

A transport's ``publish`` returns once the broker has acknowledged the message, and
raises ``BrokerUnavailable`` otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from faststream._internal.broker import BrokerUsecase
from faststream.kafka import KafkaBroker
from faststream.nats import JStream, NatsBroker
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange
from faststream.redis import RedisBroker
from nats.js.errors import BadRequestError

from salesengine.integration.contract import (
    MODELS,
    PREFIX,
    IntegrationEvent,
    routing_key,
    subject,
)
from salesengine.persistence import without_password

STREAM_NAME = "SALESENGINE"


def jetstream() -> JStream:
    """The stream every event goes into. A new object each time: faststream marks a
    stream it has declared as done, and a relay declares its stream on every start
    (the stream may have been removed while the relay was cut off)."""
    return JStream(
        STREAM_NAME,
        subjects=[f"{PREFIX}.>"],
        duplicate_window=120.0,
        description="salesengine integration events",
        declare=False,
    )


EXCHANGE = RabbitExchange(PREFIX, type=ExchangeType.TOPIC, durable=True)
JSON = "application/json"
ACK_TIMEOUT = 10.0  # seconds to wait for one broker acknowledgement
CONNECT_TIMEOUT = 10.0  # seconds to wait for a connection; the relay then retries
SCHEMES = ("nats", "tls", "amqp", "amqps", "redis", "rediss", "kafka", "memory")


class BrokerUnavailable(Exception):
    """The broker refused, dropped or did not acknowledge a message."""


class BrokerURLError(ValueError):
    """A broker URL that names no transport we have."""


class Outgoing(NamedTuple):
    """One integration event, encoded, with where it goes."""

    id: str
    type: str
    subject: str  # salesengine.deal.<policy>.<event>
    deal_id: str
    position: int
    body: bytes

    @property
    def routing_key(self) -> str:
        return routing_key(self.subject)


@dataclass(frozen=True, slots=True)
class BrokerURL:
    url: str
    kind: str  # nats, rabbit, redis, kafka or memory

    @property
    def display(self) -> str:
        return without_password(self.url)


def parse_broker_url(url: str) -> BrokerURL:
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    kinds = {
        "nats": "nats",
        "tls": "nats",
        "amqp": "rabbit",
        "amqps": "rabbit",
        "redis": "redis",
        "rediss": "redis",
        "kafka": "kafka",
        "memory": "memory",
    }
    if scheme not in kinds:
        raise BrokerURLError(
            f"broker URL '{url}': the scheme must be one of "
            + ", ".join(f"{s}://" for s in SCHEMES)
        )
    if kinds[scheme] != "memory" and not urlsplit(url).hostname:
        raise BrokerURLError(f"broker URL '{url}' names no host")
    return BrokerURL(url, kinds[scheme])


class Transport(ABC):
    """A broker connection that publishes integration events and awaits their acks."""

    kind: str
    in_flight: int = 256  # messages awaiting their acknowledgement at once, at most

    @abstractmethod
    async def start(self) -> None:
        """Connect, declare what the events need (stream, exchange), start subscribers."""

    @abstractmethod
    async def publish(self, message: Outgoing) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...


class BrokerTransport(Transport):
    """A faststream broker with one documented publisher per event type."""

    def __init__(self, broker: BrokerUsecase[Any, Any, Any]) -> None:
        self.broker = broker
        self.declare_publishers()

    def declare_publishers(self) -> None:
        """One publisher per event type: the channels the AsyncAPI documents show."""
        for event_type, model in MODELS.items():
            self._publisher(subject(event_type, "{policy}"), model)

    @abstractmethod
    def _publisher(self, channel: str, model: type[IntegrationEvent]) -> None:
        """Documents one event type's channel (a subject with ``{policy}`` in it)."""

    async def start(self) -> None:
        try:
            await asyncio.wait_for(self.broker.start(), CONNECT_TIMEOUT)
        except TimeoutError:
            await self.stop()
            raise BrokerUnavailable(f"no connection within {CONNECT_TIMEOUT:g} s") from None
        except Exception as e:  # each client library raises its own
            await self.stop()
            raise BrokerUnavailable(_reason(e)) from e

    async def publish(self, message: Outgoing) -> None:
        try:
            # A hard bound as well: a publish caught in a reconnect can outwait the
            # client's own timeout. (asyncio.timeout, unlike wait_for, makes no task.)
            async with asyncio.timeout(ACK_TIMEOUT + 1):
                await self._send(message)
        except TimeoutError:
            raise BrokerUnavailable(
                f"no acknowledgement within {ACK_TIMEOUT:g} s for the event at position "
                f"{message.position}"
            ) from None
        except BrokerUnavailable:
            raise
        except Exception as e:  # each client library raises its own
            raise BrokerUnavailable(_reason(e)) from e

    @abstractmethod
    async def _send(self, message: Outgoing) -> None: ...

    async def stop(self) -> None:
        with contextlib.suppress(Exception):  # a broken connection has nothing to close
            await self.broker.stop()


def _headers(message: Outgoing) -> dict[str, Any]:
    return {
        "content-type": JSON,
        "message_id": message.id,
        "event_type": message.type,
        "position": str(message.position),
    }


class NatsTransport(BrokerTransport):
    kind = "nats"
    broker: NatsBroker

    in_flight = 512

    def __init__(self, broker: NatsBroker) -> None:
        self.stream = jetstream()
        super().__init__(broker)

    async def stop(self) -> None:
        try:
            client = self.broker.config.connection_state.connection
        except Exception:  # never connected: nothing to close
            return
        try:
            await self.broker.stop()
        except Exception:  # drain() refuses while reconnecting: close outright instead
            with contextlib.suppress(Exception):
                await client.close()
            # and finish what stop() did not reach, or the next start() would take the
            # closed client for a live one and never connect again
            self.broker._connection = None
            self.broker.config.disconnect()

    async def start(self) -> None:
        await super().start()
        try:
            streams = self.broker.config.connection_state.stream
            config = self.stream.config
            config.subjects = [f"{PREFIX}.>"]
            try:
                await streams.add_stream(config=config)
            except BadRequestError:
                await streams.update_stream(config=config)  # an older configuration
        except Exception as e:  # nats-py raises its own
            raise BrokerUnavailable(f"cannot declare stream {STREAM_NAME}: {_reason(e)}") from e

    def _publisher(self, channel: str, model: type[IntegrationEvent]) -> None:
        self.broker.publisher(
            channel,
            stream=self.stream,
            title=channel,
            description=model.__doc__,
            schema=model,
        )

    async def _send(self, message: Outgoing) -> None:
        headers = _headers(message)
        headers["Nats-Msg-Id"] = message.id
        await self.broker.publish(
            message.body,
            message.subject,
            headers=headers,
            stream=STREAM_NAME,
            timeout=ACK_TIMEOUT,
        )


class RabbitTransport(BrokerTransport):
    kind = "rabbit"
    broker: RabbitBroker

    def _publisher(self, channel: str, model: type[IntegrationEvent]) -> None:
        self.broker.publisher(
            exchange=EXCHANGE,
            routing_key=routing_key(channel),
            title=routing_key(channel),
            description=model.__doc__,
            schema=model,
            persist=True,
        )

    async def start(self) -> None:
        await super().start()
        try:
            await self.broker.declare_exchange(EXCHANGE)
        except Exception as e:  # aio-pika raises its own
            raise BrokerUnavailable(_reason(e)) from e

    async def _send(self, message: Outgoing) -> None:
        await self.broker.publish(
            message.body,
            exchange=EXCHANGE,
            routing_key=message.routing_key,
            message_id=message.id,
            headers=dict(_headers(message)),
            content_type=JSON,
            persist=True,
            mandatory=False,  # a subject nobody has bound yet is not a failure
            timeout=ACK_TIMEOUT,
        )


class RedisTransport(BrokerTransport):
    kind = "redis"
    in_flight = 64  # one pooled connection each; the pool holds 100
    broker: RedisBroker

    def _publisher(self, channel: str, model: type[IntegrationEvent]) -> None:
        self.broker.publisher(
            stream=channel,
            title=channel,
            description=model.__doc__,
            schema=model,
        )

    async def _send(self, message: Outgoing) -> None:
        await self.broker.publish(message.body, stream=message.subject, headers=_headers(message))


class KafkaTransport(BrokerTransport):
    kind = "kafka"
    broker: KafkaBroker

    def _publisher(self, channel: str, model: type[IntegrationEvent]) -> None:
        self.broker.publisher(
            channel,
            title=channel,
            description=model.__doc__,
            schema=model,
        )

    async def _send(self, message: Outgoing) -> None:
        await self.broker.publish(
            message.body,
            message.subject,
            key=message.deal_id.encode(),
            headers=_headers(message),
        )


def make_broker(url: BrokerURL) -> BrokerUsecase[Any, Any, Any]:
    """The faststream broker for a URL, not yet connected."""
    if url.kind == "nats":
        return NatsBroker(url.url, connect_timeout=5, max_reconnect_attempts=10)
    if url.kind == "rabbit":
        return RabbitBroker(url.url)
    if url.kind == "redis":
        return RedisBroker(url.url)
    if url.kind == "kafka":
        servers = urlsplit(url.url).netloc.split(",")
        return KafkaBroker(servers, acks="all", enable_idempotence=True)
    raise BrokerURLError(f"broker URL '{url.url}': {url.kind} has no faststream broker")


TRANSPORTS: dict[str, type[BrokerTransport]] = {
    "nats": NatsTransport,
    "rabbit": RabbitTransport,
    "redis": RedisTransport,
    "kafka": KafkaTransport,
}


def broker_transport(
    url: BrokerURL, broker: BrokerUsecase[Any, Any, Any] | None = None
) -> BrokerTransport:
    """The transport for a URL, on the given broker (e.g. one under faststream's
    TestBroker, or one carrying the caller's own subscribers) or a new one."""
    return TRANSPORTS[url.kind](broker if broker is not None else make_broker(url))


def _reason(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
