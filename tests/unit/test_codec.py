"""Stored events round-trip exactly through the orjson mapper."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from salesengine.codec import OrjsonMapper
from salesengine.domain.deal import Deal
from salesengine.domain.values import NextStep, Stamp, deal_id
from salesengine.policies.catalog import PolicyCatalog

T0 = datetime(2026, 4, 1, 9, 30, 15, 123456, tzinfo=UTC)


def test_every_kind_of_field_survives_a_round_trip() -> None:
    catalog = PolicyCatalog()
    guard = catalog.guard("funnel-list")
    stamp = Stamp(T0, T0 + timedelta(days=1), "王芳", "cmd-1", {"source": "f.jsonl", "line": "3"})
    deal = Deal.open(
        id=deal_id("K"),
        key="K",
        guard=guard,
        stamp=stamp,
        facts={"budget": 1.25, "note": "预算", "ok": True, "n": 3},
        amount=Decimal("1234567.8900"),
        currency="CNY",
        expected_close=date(2026, 6, 30),
    )
    deal.lose(guard, "price", None, stamp)
    step = NextStep("call", T0 + timedelta(days=3), "rep", T0)
    deal.reopen(guard, "opportunity", None, stamp, step)
    mapper = OrjsonMapper()
    for event in deal.collect_events():
        back = mapper.to_domain_event(mapper.to_stored_event(event))
        assert type(back) is type(event)
        assert vars(back) == vars(event)
    opened = mapper.to_domain_event(
        mapper.to_stored_event(
            Deal.open(
                id=deal_id("L"), key="L", guard=guard, stamp=stamp, facts={}, amount=Decimal("0.10")
            ).collect_events()[0]
        )
    )
    assert opened.amount == Decimal("0.10")  # type: ignore[attr-defined]
    assert isinstance(opened.timestamp, datetime)  # type: ignore[attr-defined]
