"""Integration events: what a subscriber is told of a deal's history."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from uuid import UUID, uuid5

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salesengine.application.engine import SalesEngine
from salesengine.domain.deal import Deal
from salesengine.integration.contract import (
    MODELS,
    DealAmountChangedV1,
    DealExpectedCloseChangedV1,
    DealFactRecordedV1,
    DealFactRetractedV1,
    DealKeyInfoRecordedV1,
    DealKeyInfoRetractedV1,
    DealLostV1,
    DealNextStepCompletedV1,
    DealOpenedV1,
    DealOwnerChangedV1,
    IntegrationEvent,
    parse,
    policy_token,
    subject,
    subject_filter,
)
from salesengine.integration.translate import (
    PUBLISHED,
    TOPICS,
    Translator,
    event_id,
    event_id_text,
)
from salesengine.store.notification_log import LogReader
from tests.support.clock import T0
from tests.support.commands import FIVE_LEVEL_OPENING, cmd

STORE = UUID("6b1f3f4e-2c1a-4d8e-9a57-0c0ffee00001")


def translated(engine: SalesEngine, capacity: int = 100_000) -> list[IntegrationEvent]:
    log = LogReader(engine, TOPICS)
    translator = Translator(
        log.history,
        engine.catalog.get,
        STORE,
        versions=engine.policy_of_version,
        capacity=capacity,
    )
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
        "DealAmountChangedV1",
        "DealAmountChangedV1",
        "DealVisitLoggedV1",
        "DealLostV1",
    ]
    opened, later, backdated, _, lost = messages
    assert isinstance(later, DealAmountChangedV1) and isinstance(backdated, DealAmountChangedV1)
    assert (later.amount, later.currency, later.version) == (Decimal("200"), "USD", 2)
    assert backdated.amount == Decimal("300") and backdated.effective_at < later.effective_at
    assert isinstance(opened, DealOpenedV1) and isinstance(lost, DealLostV1)
    assert opened.amount == Decimal("100") and opened.probability is not None
    assert opened.probability == history.catalog.get("five-level").probability(opened.stage)
    # Each names the policy version that decided it (openings, stage changes, closes).
    fingerprint = history.catalog.get("five-level").fingerprint
    assert opened.policy_version == lost.policy_version == fingerprint
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


def test_every_kind_of_deal_event_is_published(memory_engine: SalesEngine) -> None:
    kinds = {
        name
        for name, member in vars(Deal).items()
        if isinstance(member, type) and issubclass(member, Deal.Event | Deal.Opened)
    } - {"Event", "Created", "Move"}  # the library's bases, and the stage changes' own
    assert set(PUBLISHED) == kinds
    assert TOPICS == PUBLISHED  # nothing is read that is not published


def test_corrections_and_facts_are_published_as_they_were_recorded(
    memory_engine: SalesEngine,
) -> None:
    run = memory_engine.execute
    day = timedelta(days=1)
    opening = {**FIVE_LEVEL_OPENING, "score": 3}
    for command in (
        cmd(cmd="open", deal="D-2", policy="five-level", at=T0, facts=opening),
        cmd(cmd="owner", deal="D-2", at=T0 + day, owner="ann", region="EMEA"),
        cmd(cmd="expected_close", deal="D-2", at=T0 + 2 * day, expected_close="2026-06-30"),
        cmd(cmd="expected_close", deal="D-2", at=T0 + 3 * day, expected_close=None),
        cmd(cmd="fact", deal="D-2", at=T0 + 4 * day, name="budget", value=12.5),
        cmd(cmd="fact", deal="D-2", at=T0 + 4 * day, name="signed", value=True),
        cmd(cmd="fact", deal="D-2", at=T0 + 4 * day, name="seats", value=40),
        cmd(cmd="retract", deal="D-2", at=T0 + 5 * day, name="budget", reason="typo"),
        cmd(cmd="next_step", deal="D-2", at=T0 + 5 * day, action="call", due="2026-04-01"),
        cmd(cmd="done", deal="D-2", at=T0 + 6 * day, note="called"),
    ):
        assert run(command).status == "applied"
    messages = translated(memory_engine)
    assert [m.type for m in messages] == [
        "deal.opened",
        "deal.owner_changed",
        "deal.expected_close_changed",
        "deal.expected_close_changed",
        "deal.fact_recorded",
        "deal.fact_recorded",
        "deal.fact_recorded",
        "deal.fact_retracted",
        "deal.next_step_set",
        "deal.next_step_completed",
    ]
    owner, close, cleared, budget, signed, seats, retracted, _, done = messages[1:]
    assert isinstance(owner, DealOwnerChangedV1)
    assert (owner.owner, owner.team, owner.region) == ("ann", None, "EMEA")
    assert isinstance(close, DealExpectedCloseChangedV1)
    assert close.expected_close == date(2026, 6, 30)
    assert isinstance(cleared, DealExpectedCloseChangedV1) and cleared.expected_close is None
    values = [
        (m.name, m.value) for m in (budget, signed, seats) if isinstance(m, DealFactRecordedV1)
    ]
    assert values == [("budget", 12.5), ("signed", True), ("seats", 40)]
    # A fact's value keeps its JSON type through a broker: true stays a bool, 40 an int.
    back = [parse(m.model_dump_json()) for m in (budget, signed, seats)]
    assert [type(getattr(m, "value", None)) for m in back] == [float, bool, int]
    assert isinstance(retracted, DealFactRetractedV1)
    assert (retracted.name, retracted.reason) == ("budget", "typo")
    assert isinstance(done, DealNextStepCompletedV1) and done.note == "called"
    for message in messages:
        assert parse(message.model_dump_json()) == message


def test_key_information_is_published_as_recorded_and_parses_back(
    memory_engine: SalesEngine,
) -> None:
    run = memory_engine.execute
    day = timedelta(days=1)
    for command in (
        cmd(cmd="open", deal="D-3", policy="five-level", at=T0, facts=FIVE_LEVEL_OPENING),
        cmd(cmd="key_info", deal="D-3", at=T0 + day, by="ann", evidence="minutes",
            info={"topic": "competition", "competitors": ["Acme", "用友"], "leader": "us"}),
        cmd(cmd="retract_key_info", deal="D-3", at=T0 + 2 * day, topic="competition",
            reason="wrong meeting"),
    ):  # fmt: skip
        assert run(command).status == "applied"
    _, recorded, retracted = translated(memory_engine)
    assert isinstance(recorded, DealKeyInfoRecordedV1)
    assert recorded.subject == "salesengine.deal.five-level.key_info_recorded"
    assert (recorded.topic, recorded.evidence, recorded.actor) == ("competition", "minutes", "ann")
    assert recorded.details == {"competitors": ["Acme", "用友"], "leader": "us"}
    assert isinstance(retracted, DealKeyInfoRetractedV1)
    assert (retracted.topic, retracted.reason) == ("competition", "wrong meeting")
    for message in (recorded, retracted):
        assert parse(message.model_dump_json()) == message
