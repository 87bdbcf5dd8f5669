"""The Deal aggregate: two clocks, timeline order, and refusals that store nothing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from salesengine.domain.deal import Deal, fold, timeline_order
from salesengine.domain.errors import (
    CommandRefused,
    CriteriaNotMet,
    DealClosed,
    InvalidTime,
    NoOpenNextStep,
    UnderminesLaterMove,
    UnknownFact,
)
from salesengine.domain.values import NextStep, Stamp, Status, deal_id
from salesengine.policies.catalog import PolicyCatalog
from tests.support.commands import FIVE_LEVEL_OPENING
from tests.support.deal_events import collected, deal_event, deal_events

T0 = datetime(2026, 4, 1, 9, tzinfo=UTC)
NOW = T0 + timedelta(days=30)
CATALOG = PolicyCatalog()
GUARD = CATALOG.guard("five-level")
GUARDS = CATALOG.guard_of_version


def at(days: float, now: datetime = NOW) -> Stamp:
    return Stamp(effective_at=T0 + timedelta(days=days), recorded_at=now, actor="rep")


def opened(**facts: bool) -> Deal:
    return Deal.open(
        id=deal_id("D"),
        key="D",
        guard=GUARD,
        stamp=at(0),
        facts={**FIVE_LEVEL_OPENING, **facts},
        amount=Decimal("100"),
    )


CONTACTED = {
    "decision_makers_identified": True,
    "key_needs_confirmed": True,
    "meetings_recorded": True,
}


def test_a_deal_opens_in_the_first_stage_with_both_clocks() -> None:
    deal = opened()
    event = deal_event(deal.pending_events[0])
    assert deal.state.stage == "identified" and deal.state.status is Status.OPEN
    assert event.effective_at == T0 and event.timestamp == NOW


def test_advancing_records_the_stage_change_and_the_stages_before_and_after() -> None:
    deal = opened(**CONTACTED)
    deal.advance(GUARD, "contacted", at(2))
    event = deal.pending_events[-1]
    assert isinstance(event, Deal.StageAdvanced)
    assert (event.from_stage, event.to_stage) == ("identified", "contacted")
    assert deal.state.stage_entered_at == T0 + timedelta(days=2)


def test_a_refused_move_changes_nothing() -> None:
    deal = opened()
    before = (deal.version, deal.state, len(deal.pending_events))
    with pytest.raises(CriteriaNotMet):
        deal.advance(GUARD, "contacted", at(1))
    assert (deal.version, deal.state, len(deal.pending_events)) == before


def test_an_effective_time_more_than_five_minutes_ahead_is_refused() -> None:
    deal = opened()
    with pytest.raises(InvalidTime, match="in the future"):
        deal.record_fact(
            "budget", True, Stamp(NOW + timedelta(minutes=6), NOW, "rep"), guards=GUARDS
        )
    deal.record_fact("budget", True, Stamp(NOW + timedelta(minutes=4), NOW, "rep"), guards=GUARDS)
    assert deal.state.facts["budget"] is True


def test_nothing_may_be_effective_before_the_deal_opened() -> None:
    with pytest.raises(InvalidTime, match="before the deal opened"):
        opened().record_fact("budget", True, at(-1), guards=GUARDS)


def test_a_stage_change_cannot_be_backdated_before_the_latest_stage_change() -> None:
    deal = opened(**CONTACTED)
    deal.advance(GUARD, "contacted", at(5))
    with pytest.raises(InvalidTime, match="before the deal's latest stage change"):
        deal.lose(GUARD, "price", None, at(4))


def test_a_backdated_fact_takes_its_place_in_the_timeline() -> None:
    deal = opened()
    deal.retract_fact("visit_arranged", "cancelled", at(5), guards=GUARDS)
    deal.record_fact(
        "visit_arranged", True, at(3), guards=GUARDS
    )  # recorded later, happened earlier
    assert "visit_arranged" not in deal.state.facts
    assert [e.originator_version for e in deal.timeline] == [1, 3, 2]
    assert deal.state_at(T0 + timedelta(days=4)).facts["visit_arranged"] is True


def test_state_as_known_at_an_earlier_instant_ignores_later_recordings() -> None:
    deal = opened()
    deal.change_amount(Decimal("250"), "CNY", at(2, now=NOW + timedelta(days=1)))
    everything = deal.state_at(NOW + timedelta(days=2))
    as_known_then = deal.state_at(NOW + timedelta(days=2), known_at=NOW)
    assert everything.amount == Decimal("250")
    assert as_known_then.amount == Decimal("100")


def test_the_guard_judges_a_move_by_the_evidence_at_its_effective_time() -> None:
    deal = opened(**CONTACTED)
    deal.retract_fact("meetings_recorded", "wrong deal", at(3), guards=GUARDS)
    with pytest.raises(CriteriaNotMet, match="meetings_recorded"):
        deal.advance(GUARD, "contacted", at(4))
    deal.advance(GUARD, "contacted", at(2))  # before the retraction the evidence held
    assert deal.state.stage == "contacted"


def test_retracting_an_unknown_fact_is_refused() -> None:
    with pytest.raises(UnknownFact, match="'budget' is not recorded"):
        opened().retract_fact("budget", None, at(1), guards=GUARDS)


def test_completing_a_next_step_that_does_not_exist_is_refused() -> None:
    with pytest.raises(NoOpenNextStep):
        opened().complete_next_step(None, at(1), guards=GUARDS)


def test_a_closed_deal_takes_no_next_step_but_keeps_its_record_open_for_facts() -> None:
    deal = opened()
    deal.lose(GUARD, "price", "Acme", at(1))
    with pytest.raises(DealClosed):
        deal.set_next_step("call", T0 + timedelta(days=9), "rep", at(2), guards=GUARDS)
    deal.record_fact("post_mortem", "pricing", at(2), guards=GUARDS)
    assert deal.state.status is Status.LOST and deal.state.competitor == "Acme"


def test_a_regression_needs_a_reason() -> None:
    deal = opened(**CONTACTED)
    deal.advance(GUARD, "contacted", at(1))
    with pytest.raises(CommandRefused, match="needs a reason"):
        deal.regress(GUARD, "identified", "  ", at(2))


def test_reopening_returns_a_lost_deal_to_a_stage() -> None:
    deal = opened(**CONTACTED)
    deal.advance(GUARD, "contacted", at(1))
    deal.lose(GUARD, None, None, at(2))
    deal.reopen(GUARD, "contacted", "customer came back", at(3))
    assert (deal.state.status, deal.state.stage, deal.state.closed_at) == (
        Status.OPEN,
        "contacted",
        None,
    )


def test_the_timeline_fold_is_the_aggregate_state() -> None:
    deal = opened(**CONTACTED)
    deal.record_fact("budget", 5, at(4), guards=GUARDS)
    deal.advance(GUARD, "contacted", at(2))
    deal.change_owner("Li Wei", "North 华北", None, at(1))
    assert fold(timeline_order(deal_events(deal.pending_events))) == deal.state


def test_a_deal_cannot_be_closed_before_its_recorded_next_step() -> None:
    deal = opened()
    deal.set_next_step("call", T0 + timedelta(days=9), "rep", at(3), guards=GUARDS)
    with pytest.raises(InvalidTime, match="next-step activity at"):
        deal.win(GUARD, at(2))
    deal.win(GUARD, at(4))
    assert deal.state.next_step is None


def test_a_next_step_is_judged_by_the_deals_status_at_its_effective_time() -> None:
    deal = opened()
    deal.lose(GUARD, None, None, at(2))
    deal.reopen(GUARD, "identified", "back", at(5))
    with pytest.raises(DealClosed, match="lost at that time"):
        deal.set_next_step("call", T0 + timedelta(days=9), "rep", at(3), guards=GUARDS)
    deal.set_next_step("call", T0 + timedelta(days=9), "rep", at(6), guards=GUARDS)


def test_a_lost_funnel_list_deal_reopens_with_its_new_next_step() -> None:
    guard = CATALOG.guard("funnel-list")
    facts = {"project_approved": True, "sales_plan": True, "decision_chain_path": True}
    deal = Deal.open(id=deal_id("F"), key="F", guard=guard, stamp=at(0), facts=facts)
    deal.set_next_step("call", T0 + timedelta(days=5), "rep", at(0), guards=GUARDS)
    deal.advance(guard, "p25", at(1))
    deal.lose(guard, None, None, at(2))
    with pytest.raises(CriteriaNotMet, match="missing next_step"):
        deal.reopen(guard, "p25", "back", at(3))
    step = NextStep("re-pitch", T0 + timedelta(days=9), "rep", T0 + timedelta(days=3))
    deal.reopen(guard, "p25", "back", at(3), next_step=step)
    assert (deal.state.stage, deal.state.next_step) == ("p25", step)


def test_every_event_the_deal_records_carries_exactly_its_declared_fields() -> None:
    # Events are built without the dataclass __init__, so a forgotten field would only
    # show when the event is read back; this checks every event kind the deal records.
    deal = opened(**CONTACTED)
    deal.record_fact("champion", True, at(1), guards=GUARDS)
    deal.retract_fact("champion", "left the company", at(1.5), guards=GUARDS)
    deal.advance(GUARD, "contacted", at(2))
    deal.regress(GUARD, "identified", "budget frozen", at(3))
    deal.log_visit("face_to_face", True, ["li.wei"], "site visit", at(4))
    deal.set_next_step("send proposal", T0 + timedelta(days=9), "rep", at(5), guards=GUARDS)
    deal.complete_next_step("sent", at(6), guards=GUARDS)
    deal.change_amount(Decimal("250"), "CNY", at(7))
    deal.change_expected_close(None, at(7))
    deal.change_owner("wang.fang", "east", "shanghai", at(8))
    deal.lose(GUARD, "price", "Acme", at(9))
    deal.reopen(GUARD, "identified", "budget back", at(10))
    deal.win(GUARD, at(11))
    events = collected(deal)
    other = opened()
    other.abandon(GUARD, "no budget", at(1))
    abandoned = collected(other)
    kinds = {type(e).__name__ for e in events + abandoned}
    assert len(kinds) == 15
    for event in events + abandoned:
        declared = {f.name for f in dataclasses.fields(event)}
        assert set(vars(event)) == declared, type(event).__name__
    replayed = fold(timeline_order(events))
    assert replayed == deal.state


# ------------------------------------------- backdated evidence and later moves


def contacted_on_day(day: float) -> Deal:
    deal = opened(**CONTACTED)
    deal.advance(GUARD, "contacted", at(day))
    return deal


def test_a_retraction_backdated_before_an_advance_that_needed_the_fact_is_refused() -> None:
    # Given a deal that advanced to contacted on day 5, with meetings recorded
    deal = contacted_on_day(5)
    before = (deal.version, deal.state, list(deal.timeline))
    # When the fact is retracted effective day 4, then it is refused, naming the advance
    # and what would be accepted, and nothing changes
    with pytest.raises(UnderminesLaterMove) as refused:
        deal.retract_fact("meetings_recorded", "wrong deal", at(4), guards=GUARDS)
    message = refused.value.message
    assert "cannot retract fact 'meetings_recorded' effective 2026-04-05T09:00:00+00:00" in message
    assert "the advance to 'contacted' effective 2026-04-06T09:00:00+00:00 (deal version 2)" in (
        message
    )
    assert "missing meetings_recorded" in message
    assert "effective at or after 2026-04-06T09:00:00+00:00" in message
    assert refused.value.code == "undermines_later_move"
    assert (deal.version, deal.state, list(deal.timeline)) == before


def test_a_retraction_effective_at_or_after_the_entry_is_accepted() -> None:
    # The stage was entered with its criteria met; that they no longer hold is the
    # deal's later history, not an undermined entry.
    deal = contacted_on_day(5)
    deal.retract_fact("meetings_recorded", "wrong deal", at(5), guards=GUARDS)  # same instant
    deal.retract_fact("key_needs_confirmed", None, at(6), guards=GUARDS)
    assert deal.state.stage == "contacted"
    assert "meetings_recorded" not in deal.state.facts


def test_a_backdated_retraction_the_later_moves_did_not_need_is_accepted() -> None:
    deal = opened(champion=True, **CONTACTED)
    deal.advance(GUARD, "contacted", at(5))
    deal.retract_fact("champion", "left", at(2), guards=GUARDS)
    assert "champion" not in deal.state.facts


def test_a_fact_backdated_with_a_value_that_meets_no_criterion_is_refused_like_a_retraction(
) -> None:  # fmt: skip
    deal = contacted_on_day(5)
    with pytest.raises(UnderminesLaterMove, match="cannot record fact 'meetings_recorded' = False"):
        deal.record_fact("meetings_recorded", False, at(4), guards=GUARDS)
    deal.record_fact("meetings_recorded", "3 meetings", at(4), guards=GUARDS)  # still met


def funnel_list_at_p25(next_due_day: float = 9) -> Deal:
    """A Funnel List deal that entered p25 on day 5 with a live next step (a criterion)."""
    guard = CATALOG.guard("funnel-list")
    facts = {"project_approved": True, "sales_plan": True, "decision_chain_path": True}
    deal = Deal.open(id=deal_id("F"), key="F", guard=guard, stamp=at(0), facts=facts)
    deal.set_next_step("call", T0 + timedelta(days=next_due_day), "rep", at(1), guards=GUARDS)
    deal.advance(guard, "p25", at(5))
    return deal


def test_backdated_next_step_changes_that_would_leave_an_entry_without_one_are_refused() -> None:
    deal = funnel_list_at_p25()
    # Completing the step before the advance, or replacing it with one overdue by then
    with pytest.raises(UnderminesLaterMove, match="the advance to 'p25'.*missing next_step"):
        deal.complete_next_step("done early", at(3), guards=GUARDS)
    with pytest.raises(UnderminesLaterMove, match="missing next_step"):
        deal.set_next_step("call", T0 + timedelta(days=4), "rep", at(3), guards=GUARDS)
    # A replacement still live at the advance is accepted, and so is completing it after
    deal.set_next_step("visit", T0 + timedelta(days=8), "rep", at(3), guards=GUARDS)
    deal.complete_next_step("visited", at(6), guards=GUARDS)
    assert deal.state.next_step is None


def test_a_backdated_change_may_not_leave_a_later_retraction_or_completion_empty() -> None:
    deal = opened(champion=True)
    deal.retract_fact("champion", "left", at(5), guards=GUARDS)
    with pytest.raises(UnderminesLaterMove, match="no longer be recorded there to retract"):
        deal.retract_fact("champion", "left earlier", at(3), guards=GUARDS)
    deal.set_next_step("call", T0 + timedelta(days=9), "rep", at(1), guards=GUARDS)
    deal.complete_next_step("called", at(6), guards=GUARDS)
    with pytest.raises(UnderminesLaterMove, match="no next step would be open there"):
        deal.complete_next_step("called before", at(4), guards=GUARDS)


def test_a_reopening_is_judged_like_an_entry() -> None:
    deal = funnel_list_at_p25()
    deal.lose(CATALOG.guard("funnel-list"), None, None, at(6))
    step = NextStep("re-pitch", T0 + timedelta(days=20), "rep", at(7).effective_at)
    deal.reopen(CATALOG.guard("funnel-list"), "p25", "back", at(7), next_step=step)
    with pytest.raises(
        UnderminesLaterMove, match=r"the reopening to 'p25'.*\(missing sales_plan\)"
    ):
        deal.retract_fact("sales_plan", None, at(6.5), guards=GUARDS)


def test_moves_are_judged_under_the_version_that_decided_them() -> None:
    deal = contacted_on_day(5)
    # A version no guard is known for is not judged; an entry that already lacked its
    # criteria (a store written before this rule) is not blamed on a new change.
    deal.retract_fact("meetings_recorded", None, at(4), guards=lambda _p, _v: None)
    deal.record_fact("meetings_recorded", False, at(4.5), guards=GUARDS)
    assert deal.state.facts["meetings_recorded"] is False
