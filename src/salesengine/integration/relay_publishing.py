"""A page's messages onto a transport, each deal's in order and deals at once.

A deal's next message is sent only once its previous one is acknowledged, so a failure
never lets a later event of a deal overtake an earlier one. On a pipelined transport
(NATS) one loop sends whatever is ready and each ack releases its deal's next message,
with no task per message; on a paged transport (Redis) the page goes in log order, a
few hundred messages per call; on the others, a few hundred tasks each publish deals'
chains.
"""

from __future__ import annotations

import asyncio
from collections import deque
from functools import partial

from salesengine.integration.transports.base import (
    ACK_TIMEOUT,
    BrokerUnavailable,
    Outgoing,
    Transport,
)


async def publish_page(transport: Transport, messages: list[Outgoing]) -> None:
    """Every message acknowledged: each deal's in order, deals at once."""
    if transport.pipelined:
        await InFlight(transport, messages).run()
        return
    if transport.paged:  # the whole page in log order (Redis)
        await transport.publish_page(messages)
        return
    chains: dict[str, list[Outgoing]] = {}
    for message in messages:
        chains.setdefault(message.deal_id, []).append(message)
    waiting = deque(chains.values())
    # At most this many messages in flight: a broker's client has only so many
    # connections (redis-py's pool refuses the 101st).
    workers = min(len(waiting), transport.in_flight)
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(workers):
                group.create_task(_publish_chains(transport, waiting))
    except* BrokerUnavailable as failed:
        raise failed.exceptions[0] from None


async def _publish_chains(transport: Transport, waiting: deque[list[Outgoing]]) -> None:
    publish = transport.publish
    while waiting:
        for message in waiting.popleft():
            await publish(message)


class InFlight:
    """A page's messages on a pipelined transport, each deal's strictly one at a time.

    Every deal's first message is ready at once; an ack makes its deal's next message
    ready, and the sending loop (the only coroutine) sends whatever is ready, up to the
    transport's ``in_flight``. No message is sent after a failure, so a deal's messages
    still reach the broker in version order when the page is published again.
    """

    def __init__(self, transport: Transport, messages: list[Outgoing]) -> None:
        self.transport = transport
        self.chains: dict[str, deque[Outgoing]] = {}
        for message in messages:
            chain = self.chains.get(message.deal_id)
            if chain is None:
                self.chains[message.deal_id] = chain = deque()
            chain.append(message)
        self.ready = deque(chain[0] for chain in self.chains.values())
        self.owed = len(messages)  # not yet acknowledged
        self.in_flight = 0
        self.failure: BrokerUnavailable | None = None
        self.wake: asyncio.Future[None] | None = None  # the loop waits on it for acks

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        send, limit = self.transport.send, self.transport.in_flight
        try:
            # No ack for ACK_TIMEOUT (and a bit): the broker or the connection is gone.
            async with asyncio.timeout(ACK_TIMEOUT + 1) as bound:
                while True:
                    while self.ready and self.in_flight < limit and self.failure is None:
                        message = self.ready.popleft()
                        acked = await send(message)
                        self.in_flight += 1
                        acked.add_done_callback(partial(self._acked, message))
                    if self.failure is not None:
                        raise self.failure
                    if not self.owed:
                        return
                    self.wake = loop.create_future()
                    await self.wake
                    bound.reschedule(loop.time() + ACK_TIMEOUT + 1)
        except TimeoutError:
            raise BrokerUnavailable(
                f"no acknowledgement within {ACK_TIMEOUT:g} s for {self.in_flight} "
                "message(s) in flight"
            ) from None

    def _acked(self, message: Outgoing, acked: asyncio.Future[None]) -> None:
        self.in_flight -= 1
        if acked.cancelled():
            self._fail(BrokerUnavailable("the connection closed with messages in flight"))
        elif (error := acked.exception()) is not None:
            self._fail(error)
        else:
            self.owed -= 1
            chain = self.chains[message.deal_id]
            chain.popleft()
            if chain:
                self.ready.append(chain[0])
        if self.wake is not None and not self.wake.done():
            self.wake.set_result(None)

    def _fail(self, error: BaseException) -> None:
        if self.failure is None:
            self.failure = (
                error if isinstance(error, BrokerUnavailable) else BrokerUnavailable(str(error))
            )
