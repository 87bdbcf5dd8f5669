"""The funnel as of T (known at K) by replay, checked against METRICS.md by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from salesengine.application.engine import SalesEngine
from salesengine.application.funnel import funnel_by_replay
from tests.support.clock import T0, Clock
from tests.support.commands import FIVE_LEVEL_OPENING, cmd

CONTACTED = ["decision_makers_identified", "key_needs_confirmed", "meetings_recorded"]


def rows(
    engine: SalesEngine, days: float, known_at: datetime | None = None
) -> dict[str, tuple[int, Decimal, Decimal]]:
    deals = [engine.load(k) for k in engine.deal_keys()]
    policies = {name: engine.catalog.get(name) for name in engine.catalog.names()}
    result = funnel_by_replay(deals, policies, T0 + timedelta(days=days), known_at)
    return {r.stage: (r.deals, r.amount, r.weighted) for r in result if r.deals}


def test_the_funnel_counts_each_deal_at_its_stage_with_its_latest_amount(
    memory_engine: SalesEngine, clock: Clock
) -> None:
    e = memory_engine
    for key, amount in (("A", "1000"), ("B", "400"), ("C", "300")):
        e.execute(
            cmd(
                cmd="open",
                deal=key,
                policy="five-level",
                at=T0,
                amount=amount,
                facts=FIVE_LEVEL_OPENING,
            )
        )
    for name in CONTACTED:
        e.execute(cmd(cmd="fact", deal="A", name=name, at=T0 + timedelta(days=1)))
    e.execute(cmd(cmd="advance", deal="A", to="contacted", at=T0 + timedelta(days=2)))
    e.execute(cmd(cmd="amount", deal="A", amount="2000", at=T0 + timedelta(days=5)))
    e.execute(cmd(cmd="won", deal="B", at=T0 + timedelta(days=3)))
    e.execute(
        cmd(
            cmd="open",
            deal="D",
            policy="five-level",
            at=T0 + timedelta(days=10),
            amount="50",
            facts=FIVE_LEVEL_OPENING,
        )
    )

    assert rows(e, 1) == {"identified": (3, Decimal(1700), Decimal(170))}
    assert rows(e, 4) == {
        "identified": (1, Decimal(300), Decimal(30)),
        "contacted": (1, Decimal(1000), Decimal(250)),
        "won": (1, Decimal(400), Decimal(400)),
    }
    assert rows(e, 6)["contacted"] == (1, Decimal(2000), Decimal(500))
    assert rows(e, 11)["identified"] == (2, Decimal(350), Decimal(35))

    # Known at an earlier instant: a backdated loss recorded later is not yet visible.
    before_loss = clock.now
    clock.tick(days=1)
    e.execute(cmd(cmd="lost", deal="C", at=T0 + timedelta(days=3.5)))
    assert "lost" in rows(e, 4)
    assert "lost" not in rows(e, 4, known_at=before_loss)
    assert rows(e, 4, known_at=before_loss)["identified"] == (1, Decimal(300), Decimal(30))
