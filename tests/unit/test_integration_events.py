"""Integration events: what a subscriber is told of a deal's history."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from uuid import UUID, uuid5

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salesengine.application.engine import SalesEngine
from salesengine.integration.contract import (
    MODELS,
    DealLostV1,
    DealOpenedV1,
    parse,
    policy_token,
    subject,
    subject_filter,
)
from salesengine.integration.translate import TOPICS, Translator, event_id, event_id_text
from salesengine.notification_log import LogReader
from tests.conftest import FIVE_LEVEL_OPENING, T0, cmd

STORE = UUID("6b1f3f4e-2c1a-4d8e-9a57-0c0ffee00001")


def translated(engine: SalesEngine, capacity: int = 100_000) -> list[object]:
    log = LogReader(engine, TOPICS)
    translator = Translator(log.history, engine.catalog.get, STORE, capacity=capacity)
    return [
        m for p, _, e in log.read(0, log.head()) if (m := translator.translate(p, e)) is not None
    ]


@pytest.fixture
def history(memory_engine: SalesEngine) -> SalesEngine:
    run = memory_engine.execute
    run(
        cmd(
            cmd="open",
            deal="D-1",
            policy="five-level",
            at=T0,
            amount="100",
            currency="USD",
            facts=FIVE_LEVEL_OPENING,
        )
    )
    run(cmd(cmd="amount", deal="D-1", at=T0 + timedelta(days=5), amount="200"))
    # Entered late: in force from day 2, before the change above.
    run(cmd(cmd="amount", deal="D-1", at=T0 + timedelta(days=2), amount="300"))
    run(cmd(cmd="visit", deal="D-1", at=T0 + timedelta(days=6), effective=True))
    run(cmd(cmd="lost", deal="D-1", at=T0 + timedelta(days=7), reason="price"))
    return memory_engine


def test_a_close_carries_the_amount_in_force_at_its_effective_time(
    history: SalesEngine,
) -> None:
    messages = translated(history)
    assert [type(m).__name__ for m in messages] == [
        "DealOpenedV1",
        "DealVisitLoggedV1",
        "DealLostV1",
    ]
    opened, _, lost = messages
    assert isinstance(opened, DealOpenedV1) and isinstance(lost, DealLostV1)
    assert opened.amount == Decimal("100") and opened.probability is not None
    assert opened.probability == history.catalog.get("five-level").probability(opened.stage)
    assert lost.amount == Decimal("200") and lost.currency == "USD"
    assert lost.reason == "price" and lost.stage_from == opened.stage
    assert lost.id == uuid5(lost.deal_id, str(lost.version))
    assert lost.subject == "salesengine.deal.five-level.lost"


def test_a_deal_met_mid_history_is_read_back_from_the_store(history: SalesEngine) -> None:
    assert translated(history, capacity=0) == translated(history)


def test_every_message_parses_back_into_its_own_model(history: SalesEngine) -> None:
    for message in translated(history):
        assert isinstance(message, tuple(MODELS.values()))
        assert parse(message.model_dump_json()) == message


def test_an_unknown_message_type_is_named() -> None:
    with pytest.raises(ValueError, match="unknown integration event type 'deal.moved'"):
        parse('{"type": "deal.moved"}')


def test_policy_names_become_one_safe_subject_token() -> None:
    assert policy_token("a.b*c>d#e f") == "a_b_c_d_e_f"
    assert subject("deal.won", "seven-stage") == "salesengine.deal.seven-stage.won"
    assert subject_filter("deal.stage_changed") == "salesengine.deal.*.stage_changed"
    assert subject_filter(policy="x.y") == "salesengine.deal.x_y.*"


@given(deal_id=st.uuids(), version=st.integers(min_value=1, max_value=2**40))
def test_event_ids_are_uuid5_of_the_deal_and_version(deal_id: UUID, version: int) -> None:
    # event_id_text builds the uuid5 by hand; it must stay the documented id exactly.
    expected = uuid5(deal_id, str(version))
    assert event_id_text(deal_id, version) == str(expected)
    assert event_id(deal_id, version) == expected
    assert event_id(deal_id, version).version == 5
