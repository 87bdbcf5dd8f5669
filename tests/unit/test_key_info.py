"""The case review's key information on a deal: recorded whole per topic with evidence and
recorder, retracted, validated, and read as of T known at K."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from salesengine.application.commands import (
    RecordKeyInfo,
    RetractKeyInfo,
    command_digest,
    parse_command,
)
from salesengine.domain.deal import Deal, fold
from salesengine.domain.errors import CommandRefused, InvalidTime, UnknownKeyInfo
from salesengine.domain.key_info import EXPECTED_FROM, TOPICS, expected_topics
from salesengine.domain.values import Stamp, deal_id
from salesengine.importing.common.validation import describe_validation
from salesengine.policies.catalog import PolicyCatalog
from tests.support.commands import FIVE_LEVEL_OPENING

T0 = datetime(2026, 4, 1, 9, tzinfo=UTC)
NOW = T0 + timedelta(days=30)
GUARD = PolicyCatalog().guard("five-level")


def at(days: float, *, now: datetime = NOW, actor: str = "rep") -> Stamp:
    return Stamp(effective_at=T0 + timedelta(days=days), recorded_at=now, actor=actor)


def opened() -> Deal:
    return Deal.open(
        id=deal_id("D"), key="D", guard=GUARD, stamp=at(0), facts=dict(FIVE_LEVEL_OPENING)
    )


BUDGET = {"amount": "1200000", "currency": "CNY"}


def test_given_a_budget_with_evidence_when_recorded_then_the_deal_holds_it_with_its_recorder() -> (
    None
):
    deal = opened()
    deal.record_key_info("budget", BUDGET, "CFO's email", at(2, actor="Li Wei"))
    info = deal.state.key_info["budget"]
    assert dict(info.details) == BUDGET
    assert (info.evidence, info.actor) == ("CFO's email", "Li Wei")
    assert (info.effective_at, info.recorded_at) == (T0 + timedelta(days=2), NOW)
    event = deal.pending_events[-1]
    assert isinstance(event, Deal.KeyInfoRecorded) and event.topic == "budget"


def test_a_later_record_of_a_topic_replaces_it_whole_and_the_earlier_one_holds_before() -> None:
    deal = opened()
    deal.record_key_info("budget", BUDGET, "CFO's email", at(2))
    deal.record_key_info("budget", {"amount": "900000"}, None, at(5))
    assert dict(deal.state.key_info["budget"].details) == {"amount": "900000"}
    assert deal.state.key_info["budget"].evidence is None  # evidence goes with its record
    earlier = deal.state_at(T0 + timedelta(days=3))
    assert dict(earlier.key_info["budget"].details) == BUDGET
    assert "budget" not in deal.state_at(T0 + timedelta(days=1)).key_info


def test_key_info_known_at_k_leaves_out_records_made_after_k() -> None:
    deal = opened()
    deal.record_key_info("requirement", {"motivation": "ERP end of life"}, None, at(2))
    later = NOW + timedelta(days=1)
    deal.record_key_info("competition", {"competitors": ["Acme"]}, None, at(1, now=later))
    everything = deal.state_at(T0 + timedelta(days=9))
    assert set(everything.key_info) == {"requirement", "competition"}
    assert set(deal.state_at(T0 + timedelta(days=9), NOW).key_info) == {"requirement"}


def test_a_retraction_removes_the_topic_from_its_time_on_and_the_record_stays() -> None:
    deal = opened()
    deal.record_key_info("competition", {"competitors": ["Acme"], "leader": "Acme"}, None, at(1))
    deal.retract_key_info("competition", "Acme withdrew", at(4))
    assert "competition" not in deal.state.key_info
    assert "competition" in deal.state_at(T0 + timedelta(days=3)).key_info
    kinds = [type(e).__name__ for e in deal.timeline]
    assert kinds == ["Opened", "KeyInfoRecorded", "KeyInfoRetracted"]
    assert fold(deal.timeline) == deal.state


def test_retracting_a_topic_not_held_then_is_refused_naming_when_it_is() -> None:
    deal = opened()
    deal.record_key_info("budget", BUDGET, None, at(5))
    with pytest.raises(UnknownKeyInfo, match="recorded from 2026-04-06"):
        deal.retract_key_info("budget", None, at(2))
    with pytest.raises(UnknownKeyInfo, match="topics recorded then: budget"):
        deal.retract_key_info("schedule", None, at(6))
    assert deal.version == 2  # nothing was stored


def test_a_backdated_retraction_may_not_leave_a_later_one_nothing_to_retract() -> None:
    deal = opened()
    deal.record_key_info("budget", BUDGET, None, at(1))
    deal.retract_key_info("budget", None, at(5))
    with pytest.raises(UnknownKeyInfo, match="retracted at 2026-04-06"):
        deal.retract_key_info("budget", None, at(3))
    # After a new record in between, the earlier retraction is fine.
    deal.record_key_info("budget", BUDGET, None, at(4))
    deal.retract_key_info("budget", None, at(3))
    assert "budget" not in deal.state_at(T0 + timedelta(days=3, hours=1)).key_info
    assert "budget" in deal.state_at(T0 + timedelta(days=4, hours=1)).key_info


@pytest.mark.parametrize(
    ("topic", "details", "reason"),
    [
        ("weather", {"a": "b"}, "unknown key information topic 'weather'"),
        ("budget", {"colour": "red", "amount": "1"}, "budget has no field colour"),
        ("requirement", {}, "a record of requirement needs at least one of"),
        ("requirement", {"modules": []}, "a record of requirement needs at least one of"),
        (
            "schedule",
            {"signing": "2026-06-01", "selection_end": "2026-07-01"},
            "the schedule's signing (2026-06-01) is before its selection_end (2026-07-01)",
        ),
    ],
)
def test_a_record_that_is_not_its_topics_is_refused_storing_nothing(
    topic: str, details: dict[str, Any], reason: str
) -> None:
    deal = opened()
    with pytest.raises(CommandRefused, match=reason.replace("(", r"\(").replace(")", r"\)")):
        deal.record_key_info(topic, details, None, at(1))
    assert deal.version == 1 and not deal.state.key_info


def test_key_info_before_the_opening_is_refused() -> None:
    deal = opened()
    with pytest.raises(InvalidTime, match="before the deal opened"):
        deal.record_key_info("budget", BUDGET, None, at(-1))


def test_a_closed_deal_still_takes_key_information() -> None:
    deal = opened()
    deal.lose(GUARD, "price", "Acme", at(3))
    deal.record_key_info("competition", {"competitors": ["Acme"], "why": "price"}, None, at(4))
    assert "competition" in deal.state.key_info


def test_the_command_language_types_each_topic_and_keeps_plain_details() -> None:
    command = parse_command(
        {
            "cmd": "key_info",
            "deal": "D",
            "info": {
                "topic": "schedule",
                "signing": "2026-06-15",
                "go_live": "2026-10-01",
                "derived_from": "CIO's plan",
            },
            "evidence": "minutes of 3 March",
        }
    )
    assert isinstance(command, RecordKeyInfo)
    assert command.info.details() == {
        "signing": "2026-06-15",
        "go_live": "2026-10-01",
        "derived_from": "CIO's plan",
    }
    budget = parse_command(
        {"cmd": "key_info", "deal": "D", "info": {"topic": "budget", "amount": "1e6"}}
    )
    assert isinstance(budget, RecordKeyInfo) and budget.info.details() == {"amount": "1000000"}
    retract = parse_command({"cmd": "retract_key_info", "deal": "D", "topic": "budget"})
    assert isinstance(retract, RetractKeyInfo)
    # A retry says the same; another record does not.
    again = parse_command(
        {"cmd": "key_info", "deal": "D", "info": {"topic": "budget", "amount": "1000000"}}
    )
    other = parse_command(
        {"cmd": "key_info", "deal": "D", "info": {"topic": "budget", "amount": "2"}}
    )
    assert command_digest(again) == command_digest(budget) != command_digest(other)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"info": {"topic": "weather"}}, "field 'info.topic': unknown topic 'weather' (one of"),
        ({"info": {}}, "field 'info.topic': missing topic (one of"),
        ({"info": {"topic": "budget"}}, "field 'info.amount': Field required"),
        ({"info": {"topic": "budget", "amount": "-5"}}, "field 'info.amount': Input should be"),
        ({"info": {"topic": "schedule", "go_live": "1 May"}}, "field 'info.go_live': Value error"),
        ({"info": {"topic": "competition", "rival": "x"}}, "field 'info.rival': Extra inputs"),
        (
            {"info": {"topic": "evaluation", "items": []}},
            "field 'info': Value error, a record of evaluation needs",
        ),
        (
            {"info": {"topic": "schedule", "signing": "2026-09-01", "go_live": "2026-01-01"}},
            "field 'info': Value error, the schedule's go_live (2026-01-01) is before its signing",
        ),
    ],
)
def test_a_bad_key_info_command_names_its_field(raw: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_command({"cmd": "key_info", "deal": "D", **raw})
    assert expected in describe_validation(caught.value)


def test_what_a_stage_should_hold_grows_with_its_probability() -> None:
    assert expected_topics(0) == ("requirement",)
    assert expected_topics(10) == ("requirement",)
    assert expected_topics(25) == ("requirement", "decision")
    assert expected_topics(50) == ("schedule", "budget", "requirement", "decision", "competition")
    assert expected_topics(75) == TOPICS == expected_topics(100)
    assert set(EXPECTED_FROM) == set(TOPICS)
