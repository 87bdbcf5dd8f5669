"""Stored events round-trip exactly through the orjson mapper."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from salesengine.domain.deal import Deal
from salesengine.domain.state import DealState
from salesengine.domain.values import NextStep, Stamp, deal_id
from salesengine.policies.catalog import PolicyCatalog
from salesengine.store.codec import OrjsonMapper
from tests.support.deal_events import collected, deal_event

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
    assert isinstance(opened, Deal.Opened)
    assert opened.amount == Decimal("0.10")
    assert isinstance(opened.timestamp, datetime)


def test_the_librarys_compressor_setting_still_applies() -> None:
    from eventsourcing.compressor import ZlibCompressor

    guard = PolicyCatalog().guard("funnel-list")
    stamp = Stamp(T0, T0, "rep")
    event = Deal.open(
        id=deal_id("Z"), key="Z", guard=guard, stamp=stamp, facts={}, amount=Decimal("5")
    ).collect_events()[0]
    mapper = OrjsonMapper(compressor=ZlibCompressor())
    stored = mapper.to_stored_event(event)
    assert not stored.state.startswith(b"{")
    assert vars(mapper.to_domain_event(stored)) == vars(event)


class Noted(Deal.Event):
    """A test-only event at version 3, whose upcaster adds a datetime field."""

    class_version = 3
    seen_at: datetime

    @staticmethod
    def upcast_v2_v3(state: dict[str, object]) -> None:
        state["seen_at"] = state["effective_at"]


def test_fields_an_upcaster_adds_get_their_types() -> None:
    mapper = OrjsonMapper()
    # The library's metaclass makes each event class a dataclass whose __init__ takes every
    # field, its own and its bases'; a type checker sees the base's __init__ only.
    fields: dict[str, Any] = {
        "originator_id": deal_id("U"),
        "originator_version": 2,
        "timestamp": T0,
        "effective_at": T0,
        "actor": "rep",
        "command_id": None,
        "provenance": None,
        "command_digest": None,
        "seen_at": T0,
    }
    event = Noted(**fields)
    stored = mapper.to_stored_event(event)
    state = orjson.loads(stored.state)
    assert state.pop("class_version") == 3
    del state["seen_at"]
    state["class_version"] = 2
    old = orjson.dumps(state)  # as version 2 stored it
    assert b"seen_at" not in old
    back = mapper.to_domain_event(type(stored)(stored.originator_id, 2, stored.topic, old))
    assert isinstance(back, Noted)
    assert back.seen_at == T0


def test_events_stored_before_command_digests_read_back_without_one() -> None:
    guard = PolicyCatalog().guard("funnel-list")
    stamp = Stamp(T0, T0, "rep", "cmd-1", None, "0123456789abcdef")
    deal = Deal.open(id=deal_id("V"), key="V", guard=guard, stamp=stamp, facts={})
    deal.record_fact(
        "budget", 5, stamp._replace(command_id="cmd-2"), guards=PolicyCatalog().guard_of_version
    )
    mapper = OrjsonMapper()
    for event in collected(deal):
        stored = mapper.to_stored_event(event)
        state = orjson.loads(stored.state)
        assert (state.pop("class_version"), state.pop("command_digest")) == (
            2,
            "0123456789abcdef",
        )
        old = orjson.dumps(state)  # as version 1 stored it: no class_version, no digest
        back = deal_event(
            mapper.to_domain_event(type(stored)(stored.originator_id, 1, stored.topic, old))
        )
        assert back.command_digest is None
        assert back.command_id == event.command_id


def test_stage_changes_stored_before_they_kept_a_policy_version_count_under_the_previous() -> None:
    # Given a deal opened, lost and reopened, each move stored as version 1 or 2 wrote it
    guard = PolicyCatalog().guard("funnel-list")
    stamp = Stamp(T0, T0, "rep")
    deal = Deal.open(id=deal_id("W"), key="W", guard=guard, stamp=stamp, facts={})
    deal.lose(guard, "price", None, stamp)
    deal.reopen(guard, "opportunity", None, stamp)
    mapper = OrjsonMapper()
    events = deal.collect_events()
    back = [deal_event(mapper.to_domain_event(mapper.to_stored_event(events[0])))]
    for old_version, event in zip((1, 2), events[1:], strict=True):
        stored = mapper.to_stored_event(event)
        state = orjson.loads(stored.state)
        assert (state.pop("class_version"), state.pop("policy_version")) == (
            3,
            guard.policy.fingerprint,
        )
        if old_version == 1:
            del state["command_digest"]
        else:
            state["class_version"] = 2
        old = type(stored)(stored.originator_id, stored.originator_version, stored.topic,
                           orjson.dumps(state))  # fmt: skip
        back.append(deal_event(mapper.to_domain_event(old)))
    # When they are read back, then they have none, and each position still counts under
    # the version the deal opened under.
    assert [getattr(e, "policy_version", "?") for e in back[1:]] == [None, None]
    state = DealState()
    for read in back:
        state = read.evolve(state)
        assert state.policy_version == guard.policy.fingerprint
