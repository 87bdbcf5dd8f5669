"""What every transport is: the message it takes, its interface, and the shared
faststream case (connect with a bound, publish with the broker's own ack)."""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable
from typing import Any, NamedTuple

from salesengine.integration.contract import (
    MODELS,
    IntegrationEvent,
    routing_key,
    subject,
)
from salesengine.integration.faststream_seam import AnyBroker

JSON = "application/json"
ACK_TIMEOUT = 10.0  # seconds to wait for one broker acknowledgement
CONNECT_TIMEOUT = 10.0  # seconds to wait for a connection; the relay then retries


class BrokerUnavailable(Exception):
    """The broker refused, dropped or did not acknowledge a message."""


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

    def __init__(self, broker: AnyBroker) -> None:
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
            raise BrokerUnavailable(failure_reason(e)) from e

    async def publish(self, message: Outgoing) -> None:
        await acknowledged(self._send(message), message.position)

    @abstractmethod
    async def _send(self, message: Outgoing) -> None: ...

    async def stop(self) -> None:
        with contextlib.suppress(Exception):  # a broken connection has nothing to close
            await self.broker.stop()


async def acknowledged(sending: Awaitable[Any], position: int) -> Any:
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
        raise BrokerUnavailable(failure_reason(e)) from e


def message_headers(message: Outgoing) -> dict[str, Any]:
    """The headers every broker's message carries."""
    return {
        "content-type": JSON,
        "message_id": message.id,
        "event_type": message.type,
        "position": str(message.position),
    }


def failure_reason(error: BaseException) -> str:
    """A client library's error in one line."""
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
