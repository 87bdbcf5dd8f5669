"""A live count of open deals per stage, kept from salesengine's integration events.

Run it beside a relay:

    salesengine relay --broker nats://127.0.0.1:4222 &
    python examples/live_stage_counts.py nats://127.0.0.1:4222

It subscribes to every policy's opened, stage-changed and closing events, and prints
the open deals per (policy, stage) every few seconds. The same handlers run without a
broker, on the relay's in-process transport (see tests/integration/test_examples.py).
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from uuid import UUID

from faststream import FastStream

from salesengine.integration.contract import (
    DealAbandonedV1,
    DealLostV1,
    DealOpenedV1,
    DealStageChangedV1,
    DealWonV1,
)
from salesengine.integration.subscriptions import Subscriptions
from salesengine.integration.transports import make_broker, parse_broker_url


class StageCounts:
    """Open deals per (policy, stage), from the events of every deal, once each."""

    def __init__(self) -> None:
        self.where: dict[UUID, tuple[str, str]] = {}  # each open deal's (policy, stage)
        self.subscriptions = Subscriptions()
        on = self.subscriptions.on
        on("deal.opened")(self.opened)
        on("deal.stage_changed")(self.stage_changed)
        for closing in ("deal.won", "deal.lost", "deal.abandoned"):
            on(closing)(self.closed)

    async def opened(self, event: DealOpenedV1) -> None:
        self.where[event.deal_id] = (event.policy, event.stage)

    async def stage_changed(self, event: DealStageChangedV1) -> None:
        self.where[event.deal_id] = (event.policy, event.stage_to)

    async def closed(self, event: DealWonV1 | DealLostV1 | DealAbandonedV1) -> None:
        self.where.pop(event.deal_id, None)

    def counts(self) -> Counter[tuple[str, str]]:
        return Counter(self.where.values())


async def main(url: str) -> None:
    counts = StageCounts()
    broker = make_broker(parse_broker_url(url))
    counts.subscriptions.bind(broker, group="live-stage-counts")
    app = FastStream(broker)

    async def report() -> None:
        while True:
            await asyncio.sleep(5)
            for (policy, stage), n in sorted(counts.counts().items()):
                print(f"{policy:>14} {stage:<24} {n:>6}")
            print(flush=True)

    task = asyncio.create_task(report())
    try:
        await app.run()
    finally:
        task.cancel()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "nats://127.0.0.1:4222"))
