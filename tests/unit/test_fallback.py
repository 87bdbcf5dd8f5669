"""The Funnel List fall-back rule, decided from a deal's state alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from salesengine.domain.fallback import decide_fallback
from salesengine.domain.state import DealState
from salesengine.domain.values import NextStep, Status
from salesengine.policies.catalog import PolicyCatalog

CATALOG = PolicyCatalog()
FUNNEL = CATALOG.get("funnel-list")
ENTERED = datetime(2026, 6, 1, tzinfo=UTC)
AT = ENTERED + timedelta(days=20)


def in_p50(**changes: object) -> DealState:
    return DealState(
        key="D",
        policy="funnel-list",
        status=Status.OPEN,
        stage="p50",
        stage_entered_at=ENTERED,
        facts=MappingProxyType({}),
    ).evolve(**changes)


def test_a_deal_with_a_live_next_step_stays() -> None:
    step = NextStep("demo", AT + timedelta(days=1), "rep", ENTERED)
    assert decide_fallback(FUNNEL, in_p50(next_step=step), AT) is None


def test_an_overdue_next_step_falls_back_from_its_due_time() -> None:
    due = ENTERED + timedelta(days=7)
    decision = decide_fallback(FUNNEL, in_p50(next_step=NextStep("demo", due, "rep", ENTERED)), AT)
    assert decision is not None
    assert (decision.to, decision.reason, decision.effective_at) == (
        "opportunity",
        "no_next_step",
        due,
    )


def test_a_completed_next_step_with_no_successor_falls_back_from_its_completion() -> None:
    done = ENTERED + timedelta(days=3)
    decision = decide_fallback(FUNNEL, in_p50(next_step_closed_at=done), AT)
    assert decision is not None and decision.effective_at == done


def test_never_before_the_deal_entered_its_stage() -> None:
    earlier = ENTERED - timedelta(days=5)
    step = NextStep("demo", earlier, "rep", earlier)
    decision = decide_fallback(FUNNEL, in_p50(next_step=step), AT)
    assert decision is not None and decision.effective_at == ENTERED


def test_the_rule_leaves_opportunity_closed_deals_and_other_policies_alone() -> None:
    assert decide_fallback(FUNNEL, in_p50(stage="opportunity"), AT) is None
    assert decide_fallback(FUNNEL, in_p50(status=Status.WON), AT) is None
    five = CATALOG.get("five-level")
    assert decide_fallback(five, in_p50(policy="five-level", stage="contacted"), AT) is None


def test_a_step_completed_after_it_was_due_broke_the_rule_at_its_due_time() -> None:
    due, done = ENTERED + timedelta(days=4), ENTERED + timedelta(days=9)
    decision = decide_fallback(
        FUNNEL, in_p50(next_step_closed_at=done, next_step_closed_due=due), AT
    )
    assert decision is not None
    assert decision.effective_at == due
