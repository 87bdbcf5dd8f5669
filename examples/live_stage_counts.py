"""Open deals and their amounts per stage, kept live from salesengine's integration events.

Run it beside a relay:

    salesengine relay --broker nats://127.0.0.1:4222 &
    python examples/live_stage_counts.py nats://127.0.0.1:4222 [--every 5] [--group NAME]

Every few seconds it prints what ``salesengine funnel`` shows for the open stages: per
policy, stage and currency, the open deals and their amount (a deal without an amount
is counted under currency ``-``). On a broker that several stores relay to, it counts
the deals of all of them. It subscribes to every policy at once, which NATS and
RabbitMQ allow (Redis streams have no wildcards).

Each event type is a subscription of its own, so a deal's events arrive in any order
relative to each other (a stage change can be handled before the opening it follows),
and a correction can be backdated. A deal's stage is therefore not that of the last
message handled but that of its latest stage event in the deal's timeline (effective
time, then version), as the engine folds a deal; its amount likewise. Each handler
keeps what it is told only if it is later in that order than what the deal holds, so
the counts come out the same whatever order the events arrive in, and a copy changes
nothing. The same handlers run without a broker, on the relay's in-process transport
(see tests/integration/test_examples.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple
from uuid import UUID

from faststream import FastStream

from salesengine.integration.contract import (
    DealAbandonedV1,
    DealAmountChangedV1,
    DealLostV1,
    DealOpenedV1,
    DealStageChangedV1,
    DealWonV1,
    IntegrationEvent,
)
from salesengine.integration.subscriptions import Subscriptions
from salesengine.integration.transports import make_broker, parse_broker_url

Place = tuple[datetime, int]  # (effective_at, version): a deal's timeline order
NO_AMOUNT = "-"


@dataclass(slots=True)
class DealView:
    """What the counts need of one deal: its stage (None once closed) and amount, each
    with the place in the deal's timeline of the event that set it."""

    policy: str
    stage_at: Place | None = None
    stage: str | None = None
    amount_at: Place | None = None
    amount: Decimal | None = None
    currency: str | None = None


class Row(NamedTuple):
    policy: str
    stage: str
    currency: str
    deals: int
    amount: Decimal


class StageCounts:
    """Open deals per (policy, stage), with their amounts, from every deal's events."""

    def __init__(self) -> None:
        self.deals: dict[UUID, DealView] = {}
        self.subscriptions = Subscriptions()
        on = self.subscriptions.on
        on("deal.opened")(self.opened)
        on("deal.stage_changed")(self.stage_changed)
        for closing in ("deal.won", "deal.lost", "deal.abandoned"):
            on(closing)(self.closed)
        on("deal.amount_changed")(self.amount_changed)

    async def opened(self, event: DealOpenedV1) -> None:
        self._move(event, event.stage)
        self._set_amount(event, event.amount, event.currency)

    async def stage_changed(self, event: DealStageChangedV1) -> None:
        self._move(event, event.stage_to)

    async def closed(self, event: DealWonV1 | DealLostV1 | DealAbandonedV1) -> None:
        self._move(event, None)

    async def amount_changed(self, event: DealAmountChangedV1) -> None:
        self._set_amount(event, event.amount, event.currency)

    def _deal(self, event: IntegrationEvent) -> DealView:
        deal = self.deals.get(event.deal_id)
        if deal is None:
            deal = self.deals[event.deal_id] = DealView(event.policy)
        return deal

    def _move(self, event: IntegrationEvent, stage: str | None) -> None:
        deal = self._deal(event)
        place = (event.effective_at, event.version)
        if deal.stage_at is None or place > deal.stage_at:
            deal.stage_at, deal.stage = place, stage

    def _set_amount(
        self, event: IntegrationEvent, amount: Decimal | None, currency: str | None
    ) -> None:
        deal = self._deal(event)
        place = (event.effective_at, event.version)
        if deal.amount_at is None or place > deal.amount_at:
            deal.amount_at, deal.amount, deal.currency = place, amount, currency

    def counts(self) -> Counter[tuple[str, str]]:
        """Open deals per (policy, stage)."""
        return Counter((d.policy, d.stage) for d in self.deals.values() if d.stage is not None)

    def rows(self) -> list[Row]:
        """Open deals and their amount per (policy, stage, currency), sorted."""
        deals: Counter[tuple[str, str, str]] = Counter()
        amounts: dict[tuple[str, str, str], Decimal] = {}
        for d in self.deals.values():
            if d.stage is None:
                continue
            currency = d.currency if d.amount is not None and d.currency else NO_AMOUNT
            key = (d.policy, d.stage, currency)
            deals[key] += 1
            amounts[key] = amounts.get(key, Decimal(0)) + (d.amount or Decimal(0))
        return [Row(*key, deals[key], amounts[key]) for key in sorted(deals)]


def report(counts: StageCounts) -> str:
    """One block: a heading line, then ``policy stage deals amount currency`` per row."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    lines = [f"open deals at {now}"]
    lines += [
        f"{r.policy} {r.stage} {r.deals} {format(r.amount, 'f')} {r.currency}"
        for r in counts.rows()
    ]
    return "\n".join(lines) + "\n"


async def main(url: str, every: float, group: str) -> None:
    counts = StageCounts()
    # faststream logs a line per message handled: keep only its warnings and errors.
    logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s")
    log = logging.getLogger("live_stage_counts")
    log.setLevel(logging.WARNING)
    broker = make_broker(parse_broker_url(url), logger=log)
    counts.subscriptions.bind(broker, group=group)
    app = FastStream(broker)

    async def keep_reporting() -> None:
        while True:
            await asyncio.sleep(every)
            print(report(counts), flush=True)

    task = asyncio.create_task(keep_reporting())
    try:
        await app.run()
    finally:
        task.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="nats://127.0.0.1:4222")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between reports")
    parser.add_argument("--group", default="live-stage-counts", help="the consumer group")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.every, args.group))
