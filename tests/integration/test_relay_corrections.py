"""Corrections reach subscribers: a backdated amount, on each real broker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from salesengine.bootstrap import build_engine
from salesengine.integration.contract import DealAmountChangedV1
from salesengine.integration.subscriptions import Subscriptions
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.clock import T0
from tests.support.commands import FIVE_LEVEL_OPENING, cmd
from tests.support.relay import BROKERS, relay_to_subscribers


@pytest.mark.parametrize("kind", sorted(BROKERS))
def test_a_backdated_amount_correction_reaches_a_subscriber(kind: str, tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    engine = build_engine(db, actor="tester")
    sql = sql_engine(store_settings(db))
    run = engine.execute
    key = f"CORR-{uuid.uuid4().hex[:8]}"
    run(
        cmd(
            cmd="open",
            deal=key,
            policy="five-level",
            at=T0,
            amount="100",
            currency="EUR",
            facts=FIVE_LEVEL_OPENING,
        )
    )
    run(cmd(cmd="visit", deal=key, at=T0 + timedelta(days=3), effective=True))
    # Found out later: the amount was 150 from day 1, before the visit.
    corrected_at = T0 + timedelta(days=1)
    assert run(cmd(cmd="amount", deal=key, at=corrected_at, amount="150.50")).status == "applied"

    subscriptions = Subscriptions()
    received: list[DealAmountChangedV1] = []

    @subscriptions.on("deal.amount_changed", policy="five-level")
    async def corrected(event: DealAmountChangedV1) -> None:
        if event.deal == key:
            received.append(event)

    try:
        relay_to_subscribers(
            kind,
            engine,
            sql,
            subscriptions,
            lambda: len(received) >= 1,
            group="corrections",
            what="the amount correction",
        )
    finally:
        sql.dispose()
        engine.close()
    (event,) = received
    assert event.amount == Decimal("150.50") and event.currency == "EUR"
    assert event.effective_at == corrected_at
    assert event.recorded_at > datetime.now(UTC) - timedelta(minutes=5)  # recorded now
    assert event.version == 3 and event.position == 3
