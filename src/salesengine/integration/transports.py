"""One faststream broker per URL scheme, each publishing with the broker's own ack.

- ``nats://``: JetStream stream ``SALESENGINE`` over ``salesengine.>``; the event id is
  the ``Nats-Msg-Id``, so JetStream drops a republished event within its duplicate
  window (two minutes by default).
- ``amqp://``: durable topic exchange ``salesengine``, routing key ``deal.<policy>.<event>``,
  persistent messages with publisher confirms; the event id is the AMQP ``message_id``.
- ``redis://``: one stream per subject; each entry holds the JSON body (field ``data``)
  and the headers as plain fields, added by a script that skips an event the stream
  already holds (see ``RedisTransport``).
- ``kafka://host:port[,host:port]``: one topic per subject, keyed by deal (so one
  partition holds a deal's events in order), ``acks=all`` with an idempotent producer.
- ``memory://``: no broker; subscribers registered in the same process are called.

A transport's ``publish`` returns once the broker has acknowledged the message, and
raises ``BrokerUnavailable`` otherwise. A pipelined transport (NATS) also offers ``send``,
which hands a message to the client and returns a future of its acknowledgement, so the
relay keeps hundreds of messages in flight without a task or a wait each.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import orjson
from faststream._internal.broker import BrokerUsecase
from faststream.kafka import KafkaBroker
from faststream.nats import JStream, NatsBroker
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange
from faststream.redis import RedisBroker
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.errors import BadRequestError
from nats.protocol.command import hpub_cmd
from redis.commands.core import AsyncScript

from salesengine.integration.contract import (
    MODELS,
    PREFIX,
    IntegrationEvent,
    routing_key,
    subject,
)
from salesengine.store.settings import without_password

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
    store: str  # the store's id: where an event comes from, beside its position

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
    try:
        parts = urlsplit(url)
    except ValueError as e:  # an unclosed [ of an IPv6 host
        raise BrokerURLError(f"broker URL '{url}': {e}") from None
    scheme = parts.scheme.lower() if "://" in url else ""
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
    if kinds[scheme] != "memory" and not parts.hostname:
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

    @property
    def pipelined(self) -> bool:
        """Whether ``send`` is available on the current connection."""
        return False

    @property
    def paged(self) -> bool:
        """Whether ``publish_page`` is available on the current connection."""
        return False

    async def publish_page(self, messages: list[Outgoing]) -> None:
        """Every message, in the order given, acknowledged; a failure stops it there."""
        raise NotImplementedError(f"the {self.kind} transport publishes no pages")

    async def send(self, message: Outgoing) -> asyncio.Future[None]:
        """Hands the message to the broker's client and returns at once with a future
        that is done when the broker has acknowledged it (or failed, with
        ``BrokerUnavailable``, or cancelled when the connection is stopped)."""
        raise NotImplementedError(f"the {self.kind} transport has no pipelined send")

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
            # Not wait_for: its inner task would outlive a cancellation of this one that
            # the client swallows (see Relay._ensure_started).
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await self.broker.start()
        except TimeoutError:
            await self.stop()
            raise BrokerUnavailable(f"no connection within {CONNECT_TIMEOUT:g} s") from None
        except Exception as e:  # each client library raises its own
            await self.stop()
            raise BrokerUnavailable(_reason(e)) from e

    async def publish(self, message: Outgoing) -> None:
        await _acknowledged(self._send(message), message.position)

    @abstractmethod
    async def _send(self, message: Outgoing) -> None: ...

    async def stop(self) -> None:
        with contextlib.suppress(Exception):  # a broken connection has nothing to close
            await self.broker.stop()


async def _acknowledged(sending: Awaitable[Any], position: int) -> Any:
    """The broker's answer to ``sending``, or ``BrokerUnavailable`` naming the position
    of the (first) event it carries."""
    try:
        # A hard bound as well: a publish caught in a reconnect can outwait the
        # client's own timeout. (asyncio.timeout, unlike wait_for, makes no task.)
        async with asyncio.timeout(ACK_TIMEOUT + 1):
            return await sending
    except TimeoutError:
        raise BrokerUnavailable(
            f"no acknowledgement within {ACK_TIMEOUT:g} s for the event at position {position}"
        ) from None
    except BrokerUnavailable:
        raise
    except Exception as e:  # each client library raises its own
        raise BrokerUnavailable(_reason(e)) from e


def _headers(message: Outgoing) -> dict[str, Any]:
    return {
        "content-type": JSON,
        "message_id": message.id,
        "event_type": message.type,
        "position": str(message.position),
    }


class NatsTransport(BrokerTransport):
    """JetStream through faststream's broker, which connects, declares the stream and
    documents the channels.

    The relay publishes with ``send``, not ``broker.publish``: faststream's publish is
    a JetStream request per message under its own layers, awaited one by one per deal,
    measured at half the rate of plain ``js.publish``. ``send`` writes the same message
    (subject, body, headers, ``Nats-Msg-Id``, ``Nats-Expected-Stream``) on the broker's
    own nats-py connection with a reply subject under this transport's inbox; the
    inbox's one subscription settles each message's future, so hundreds are in flight
    with no task or wait each. While the connection is plainly up, ``send`` frames the
    message itself (see ``_nats_queue``): nats-py's publish re-checks and re-escapes
    every header of every message, as costly as all the rest of it. Under faststream's
    TestNatsBroker there is no nats-py connection: ``pipelined`` is False and the relay
    publishes through the (test) broker.
    """

    kind = "nats"
    broker: NatsBroker

    in_flight = 512

    def __init__(self, broker: NatsBroker) -> None:
        self.stream = jetstream()
        self._client: NatsClient | None = None  # while the ack inbox is live
        self._inbox = ""  # "<inbox>.", then a token per message
        self._acks: Subscription | None = None
        self._waiting: dict[str, asyncio.Future[None]] = {}  # token -> its ack
        self._tokens = itertools.count()
        self._queue: Callable[[bytes], Awaitable[None]] | None = None  # see _nats_queue
        super().__init__(broker)

    async def stop(self) -> None:
        self._forget_acks()
        try:
            client = self.broker.config.connection_state.connection
        except Exception:  # never connected: nothing to close
            return
        try:
            await self.broker.stop()
        except Exception:  # drain() refuses while reconnecting: close outright instead
            await _close_quietly(client)
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
        try:
            await self._listen_for_acks()
        except Exception as e:  # nats-py raises its own
            raise BrokerUnavailable(f"cannot subscribe to acknowledgements: {_reason(e)}") from e

    @property
    def pipelined(self) -> bool:
        return self._acks is not None

    async def _listen_for_acks(self) -> None:
        client = self.broker.config.connection_state.connection
        if not isinstance(client, NatsClient):  # a test broker's stand-in
            return
        self._client = client
        self._queue = _nats_queue(client)
        self._inbox = client.new_inbox() + "."
        self._acks = await client.subscribe(self._inbox + "*", cb=self._acked)

    def _forget_acks(self) -> None:
        """Drops the inbox; acks still owed will never come: their futures are cancelled
        (the connection is going, and whoever waits on them starts again)."""
        self._client = self._acks = self._queue = None
        waiting, self._waiting = self._waiting, {}
        for acked in waiting.values():
            acked.cancel()

    async def send(self, message: Outgoing) -> asyncio.Future[None]:
        client = self._client
        if client is None:
            raise BrokerUnavailable("not connected")
        token = str(next(self._tokens))
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[token] = acked
        reply = self._inbox + token
        headers = _nats_headers(message)
        try:
            if self._queue is not None and _plainly_up(client, message):
                await self._queue(_framed(message, reply, headers))
                client.stats["out_msgs"] += 1  # as publish counts
                client.stats["out_bytes"] += len(message.body)
            else:  # nats-py's publish, its checks, its buffering and its errors
                await client.publish(message.subject, message.body, reply, headers)
        except Exception as e:  # nats-py raises its own
            self._waiting.pop(token, None)
            raise BrokerUnavailable(_reason(e)) from e
        return acked

    async def _acked(self, msg: Msg) -> None:
        acked = self._waiting.pop(msg.subject[len(self._inbox) :], None)
        if acked is None or acked.done():  # an ack of a connection since stopped
            return
        problem = _ack_problem(msg)
        if problem is None:
            acked.set_result(None)
        else:
            acked.set_exception(BrokerUnavailable(problem))

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
            correlation_id=message.id,
            stream=STREAM_NAME,
            timeout=ACK_TIMEOUT,
        )


async def _close_quietly(client: Any) -> None:
    """Close a nats-py client whatever state it is in. Closing one that is reconnecting
    can end in a CancelledError from nats-py's own writer, which is not a request to
    stop this task: only a cancellation of the task itself goes on."""
    try:
        await client.close()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
    except Exception:  # nats-py raises its own; the client is being dropped anyway
        return


def _nats_headers(message: Outgoing) -> dict[str, str]:
    """The headers of a relayed message on NATS. Every name and value here is safe on a
    header line as it is (fixed names; ids, a type, a number): none needs the trimming
    and escaping nats-py's publish applies."""
    headers = _headers(message)
    headers["correlation_id"] = message.id  # faststream's publish sets one (random)
    headers["Nats-Msg-Id"] = message.id
    headers["Nats-Expected-Stream"] = STREAM_NAME  # as js.publish(stream=...) does
    return headers


def _plainly_up(client: NatsClient, message: Outgoing) -> bool:
    """Connected, not reconnecting or draining, and the body within the server's limit."""
    return (
        client.is_connected and not client.is_draining and len(message.body) <= client.max_payload
    )


def _framed(message: Outgoing, reply: str, headers: dict[str, str]) -> bytes:
    """The message as nats-py's publish frames it (an ``HPUB`` with a header block)."""
    lines = "\r\n".join(map(": ".join, headers.items()))
    header = f"NATS/1.0\r\n{lines}\r\n\r\n".encode()
    return hpub_cmd(message.subject, reply, header, message.body)


def _nats_queue(client: NatsClient) -> Callable[[bytes], Awaitable[None]] | None:
    """A way to put a framed message (``hpub_cmd``) in the client's outgoing buffer, as
    its publish does once it has framed one; None if this nats-py keeps it otherwise.

    This leans on two private methods of nats-py (``_send_command``, ``_flush_pending``)
    and its flush queue, for the relay's throughput only: the framing is nats-py's own
    ``hpub_cmd`` and the NATS protocol's, and without them ``send`` uses publish.
    """
    queue_command = getattr(client, "_send_command", None)
    flush = getattr(client, "_flush_pending", None)
    if not callable(queue_command) or not callable(flush) or not hasattr(client, "_flush_queue"):
        return None

    async def put(command: bytes) -> None:
        await queue_command(command)
        flushing = client._flush_queue
        if flushing is not None and flushing.empty():  # no flush pending: ask for one
            await flush()

    return put


def _ack_problem(msg: Msg) -> str | None:
    """What is wrong with a JetStream publish ack, or None for a stored message (or a
    duplicate the stream dropped)."""
    data = msg.data
    if data[:1] == b"{" and b'"error"' not in data:
        return None  # {"stream": ..., "seq": ...}: the usual ack, not worth parsing
    if msg.headers and msg.headers.get("Status") == "503":
        return f"no stream answered (JetStream down, or stream {STREAM_NAME} missing)"
    try:
        reply = orjson.loads(data)
    except orjson.JSONDecodeError:
        return f"an unreadable acknowledgement: {data[:80]!r}"
    error = reply.get("error") if isinstance(reply, dict) else "not an object"
    if error is None:
        return None
    if isinstance(error, dict):
        return str(error.get("description") or error)
    return str(error)


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
            correlation_id=message.id,
            headers=dict(_headers(message)),
            content_type=JSON,
            persist=True,
            mandatory=False,  # a subject nobody has bound yet is not a failure
            timeout=ACK_TIMEOUT,
        )


# Adds a page's entries to their streams, in the order given, skipping each event its
# stream already holds. KEYS: the streams, then the hash of what each store has added
# to each stream. ARGV: the store id, then per entry the index of its stream in KEYS,
# its log position, its number of field names and values, and those.
#
# A store's events reach a stream in log order (the relay adds a page in log order,
# and a page only once the one before it is acknowledged), so an event is in its
# stream exactly when its position is at most the last one added there: the hash keeps
# that position per store and stream, and the script skips what is not beyond it. A
# stream that is gone (deleted) is started afresh. A script runs whole or, on an error,
# up to the failing command, so the hash never claims an entry that was not added.
ADD_ONCE = """
local marks = KEYS[#KEYS]
local store = ARGV[1]
local last = {}
local added = 0
local i = 2
while i <= #ARGV do
  local stream = KEYS[tonumber(ARGV[i])]
  local position = tonumber(ARGV[i + 1])
  local n = tonumber(ARGV[i + 2])
  local mark = store .. ' ' .. stream
  if last[stream] == nil then
    if redis.call('EXISTS', stream) == 0 then
      redis.call('HDEL', marks, mark)
      last[stream] = 0
    else
      last[stream] = tonumber(redis.call('HGET', marks, mark) or '0')
    end
  end
  if position > last[stream] then
    redis.call('XADD', stream, '*', unpack(ARGV, i + 3, i + 2 + n))
    redis.call('HSET', marks, mark, ARGV[i + 1])
    last[stream] = position
    added = added + 1
  end
  i = i + 3 + n
end
return added
"""
ADDED_KEY = "salesengine:relayed"  # the script's hash: "<store id> <stream>" -> position
PAGE_CHUNK = 200  # entries per script call: a script holds the server while it runs


class RedisTransport(BrokerTransport):
    """Redis streams, one per subject, that plain clients read as they are.

    Each entry holds the message's JSON body in the field ``data`` and its headers
    (``message_id``, ``event_type``, ``position``, ``content-type``) as fields of their
    own, so ``XREAD`` with any client gives them as they are; faststream's stream
    subscribers read ``data`` as the body. (faststream's own publish would put a binary
    envelope of its own under one field ``__data__`` instead.)

    Entries are added by the script ``ADD_ONCE``, which skips an event its stream
    already holds from the same store, so a republished page (a relay killed before
    storing its position, a lost reply, ``--from-position``) adds nothing twice. The
    relay publishes a whole page in log order through ``publish_page``, which the
    script needs: a stream must receive a store's events in position order.
    """

    kind = "redis"
    broker: RedisBroker

    def __init__(self, broker: RedisBroker) -> None:
        self._add: AsyncScript | None = None  # while connected
        super().__init__(broker)

    def _publisher(self, channel: str, model: type[IntegrationEvent]) -> None:
        self.broker.publisher(
            stream=channel,
            title=channel,
            description=model.__doc__,
            schema=model,
        )

    async def start(self) -> None:
        await super().start()
        try:
            client = await self.broker.connect()
            self._add = client.register_script(ADD_ONCE)
        except Exception as e:  # redis-py raises its own
            raise BrokerUnavailable(_reason(e)) from e

    async def stop(self) -> None:
        self._add = None
        await super().stop()

    @property
    def paged(self) -> bool:
        return self._add is not None

    async def publish_page(self, messages: list[Outgoing]) -> None:
        for start in range(0, len(messages), PAGE_CHUNK):
            chunk = messages[start : start + PAGE_CHUNK]
            await _acknowledged(self._add_entries(chunk), chunk[0].position)

    async def _send(self, message: Outgoing) -> None:
        await self._add_entries([message])

    async def _add_entries(self, messages: list[Outgoing]) -> int:
        add = self._add
        if add is None:
            raise BrokerUnavailable("not connected")
        streams: dict[str, int] = {}
        args: list[str | bytes | int] = [messages[0].store]
        for message in messages:
            index = streams.setdefault(message.subject, len(streams) + 1)
            fields = redis_fields(message)
            args += [index, message.position, 2 * len(fields)]
            for name, value in fields.items():
                args += [name, value]
        added: int = await add(keys=[*streams, ADDED_KEY], args=args)
        return added


def redis_fields(message: Outgoing) -> dict[str, str | bytes]:
    """A message as the fields of its stream entry: the body and every header."""
    fields: dict[str, str | bytes] = {"data": message.body}
    fields.update(_headers(message))
    return fields


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
            correlation_id=message.id,
        )


def make_broker(
    url: BrokerURL, *, logger: logging.Logger | None = None
) -> BrokerUsecase[Any, Any, Any]:
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
