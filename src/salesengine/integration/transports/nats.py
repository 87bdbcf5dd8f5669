"""NATS: the JetStream stream ``SALESENGINE`` over ``salesengine.>``, the event id as
``Nats-Msg-Id`` (JetStream drops a republished event within its duplicate window), and
a pipelined ``send`` (docs/integration.md, "Publishing on NATS")."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import orjson
from faststream.nats import JStream, NatsBroker
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.errors import BadRequestError

from salesengine.integration import nats_seam
from salesengine.integration.contract import PREFIX, IntegrationEvent
from salesengine.integration.faststream_seam import (
    forget_nats_connection,
    nats_client,
    nats_jetstream,
)
from salesengine.integration.transports.base import (
    ACK_TIMEOUT,
    BrokerTransport,
    BrokerUnavailable,
    Outgoing,
    failure_reason,
    message_headers,
)

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


class NatsTransport(BrokerTransport):
    """JetStream through faststream's broker (connection, stream, documented channels),
    publishing with ``send`` on the broker's own nats-py connection: replies to one
    inbox settle each message's future, so hundreds are in flight with no task each.
    Without a nats-py connection (faststream's TestNatsBroker) it is not ``pipelined``
    and publishes through the broker."""

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
        self._queue: nats_seam.CommandQueue | None = None  # the fast path, when offered
        super().__init__(broker)

    async def stop(self) -> None:
        self._forget_acks()
        try:
            client = nats_client(self.broker)
        except Exception:  # never connected: nothing to close
            return
        try:
            await self.broker.stop()
        except Exception:  # drain() refuses while reconnecting: close outright instead
            await _close_quietly(client)
            forget_nats_connection(self.broker)

    async def start(self) -> None:
        await super().start()
        try:
            streams = nats_jetstream(self.broker)
            config = self.stream.config
            config.subjects = [f"{PREFIX}.>"]
            try:
                await streams.add_stream(config=config)
            except BadRequestError:
                await streams.update_stream(config=config)  # an older configuration
        except Exception as e:  # nats-py raises its own
            raise BrokerUnavailable(
                f"cannot declare stream {STREAM_NAME}: {failure_reason(e)}"
            ) from e
        try:
            await self._listen_for_acks()
        except Exception as e:  # nats-py raises its own
            raise BrokerUnavailable(
                f"cannot subscribe to acknowledgements: {failure_reason(e)}"
            ) from e

    @property
    def pipelined(self) -> bool:
        return self._acks is not None

    async def _listen_for_acks(self) -> None:
        client = nats_client(self.broker)
        if not isinstance(client, NatsClient):  # a test broker's stand-in
            return
        self._client = client
        self._queue = nats_seam.command_queue(client)
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
        headers = nats_headers(message)
        try:
            if self._queue is not None and _plainly_up(client, message):
                await self._queue(nats_seam.framed(message.subject, reply, headers, message.body))
                nats_seam.count_sent(client, message.body)
            else:  # nats-py's publish, its checks, its buffering and its errors
                await client.publish(message.subject, message.body, reply, headers)
        except Exception as e:  # nats-py raises its own
            self._waiting.pop(token, None)
            raise BrokerUnavailable(failure_reason(e)) from e
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
        headers = message_headers(message)
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


def nats_headers(message: Outgoing) -> dict[str, str]:
    """The headers of a relayed message on NATS. Every name and value here is safe on a
    header line as it is (fixed names; ids, a type, a number): none needs the trimming
    and escaping nats-py's publish applies."""
    headers = message_headers(message)
    headers["correlation_id"] = message.id  # faststream's publish sets one (random)
    headers["Nats-Msg-Id"] = message.id
    headers["Nats-Expected-Stream"] = STREAM_NAME  # as js.publish(stream=...) does
    return headers


def _plainly_up(client: NatsClient, message: Outgoing) -> bool:
    """Connected, not reconnecting or draining, and the body within the server's limit."""
    return (
        client.is_connected and not client.is_draining and len(message.body) <= client.max_payload
    )


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
