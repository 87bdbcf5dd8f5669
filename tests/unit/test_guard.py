"""The stage guard: given a deal's evidence, when it moves, then the policy decides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import MappingProxyType

import pytest

from salesengine.domain.errors import CriteriaNotMet, MoveNotAllowed
from salesengine.domain.guard import StageGuard, Trigger
from salesengine.domain.state import DealState
from salesengine.domain.values import FactValue, NextStep, Status
from salesengine.policies.catalog import PolicyCatalog

AT = datetime(2026, 5, 4, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> PolicyCatalog:
    return PolicyCatalog()


def deal(stage: str, *facts: str, policy: str = "five-level", **changes: object) -> DealState:
    state = DealState(
        key="D",
        policy=policy,
        status=Status.OPEN,
        stage=stage,
        facts=MappingProxyType(dict.fromkeys(facts, True)),
    )
    return state.evolve(**changes) if changes else state


def test_advancing_without_the_criteria_is_refused_listing_each_missing_key(
    catalog: PolicyCatalog,
) -> None:
    guard = catalog.guard("five-level")
    given = deal("identified", "meetings_recorded")
    with pytest.raises(CriteriaNotMet) as info:
        guard.check("advance", given, "contacted", AT)
    assert info.value.stage == "contacted"
    assert info.value.missing == ["decision_makers_identified", "key_needs_confirmed"]


def test_advancing_with_the_criteria_is_allowed(catalog: PolicyCatalog) -> None:
    guard = catalog.guard("five-level")
    given = deal(
        "identified", "decision_makers_identified", "key_needs_confirmed", "meetings_recorded"
    )
    assert guard.unmet("advance", given, "contacted", AT) == []


def test_skipping_a_stage_needs_the_skipped_stages_criteria_too(catalog: PolicyCatalog) -> None:
    guard = catalog.guard("five-level")
    given = deal(
        "identified",
        "needs_agreed",
        "solution_defined",
        "financial_capability_confirmed",
        "delivery_plan",
    )
    missing = guard.unmet("advance", given, "qualified", AT)
    assert missing == ["decision_makers_identified", "key_needs_confirmed", "meetings_recorded"]


@pytest.mark.parametrize("dest", ["identified", "contacted"])
def test_advancing_to_the_same_or_an_earlier_stage_is_not_a_move(
    catalog: PolicyCatalog, dest: str
) -> None:
    with pytest.raises(MoveNotAllowed, match="not a later stage"):
        catalog.guard("five-level").check("advance", deal("contacted"), dest, AT)


def test_regressing_to_a_later_stage_is_not_allowed(catalog: PolicyCatalog) -> None:
    with pytest.raises(MoveNotAllowed, match="not an earlier stage"):
        catalog.guard("five-level").check("regress", deal("contacted"), "qualified", AT)


def test_an_unknown_stage_is_named(catalog: PolicyCatalog) -> None:
    with pytest.raises(MoveNotAllowed, match="has no stage 'signed'"):
        catalog.guard("five-level").check("advance", deal("contacted"), "signed", AT)


@pytest.mark.parametrize(
    ("trigger", "outcome"), [("win", "won"), ("lose", "lost"), ("abandon", "abandoned")]
)
@pytest.mark.parametrize("stage", ["identified", "qualified", "committed"])
def test_terminal_outcomes_are_allowed_from_any_open_stage(
    catalog: PolicyCatalog, trigger: Trigger, outcome: str, stage: str
) -> None:
    assert catalog.guard("five-level").unmet(trigger, deal(stage), outcome, AT) == []


def test_a_closed_deal_cannot_move_except_by_reopening(catalog: PolicyCatalog) -> None:
    guard = catalog.guard("five-level")
    lost = deal("contacted", status=Status.LOST)
    with pytest.raises(MoveNotAllowed, match="only a lost or abandoned deal may be reopened"):
        guard.check("advance", lost, "qualified", AT)
    with pytest.raises(MoveNotAllowed):
        guard.check("win", lost, "won", AT)


def test_a_won_deal_cannot_be_reopened(catalog: PolicyCatalog) -> None:
    with pytest.raises(MoveNotAllowed, match="cannot reopen a deal that is won"):
        catalog.guard("five-level").check(
            "reopen", deal("committed", status=Status.WON), "committed", AT
        )


def test_reopening_needs_every_criterion_up_to_the_target_stage(catalog: PolicyCatalog) -> None:
    guard = catalog.guard("five-level")
    opening = ["key_people_known", "org_structure_confirmed", "need_determined", "visit_arranged"]
    abandoned = deal("qualified", *opening, "decision_makers_identified", status=Status.ABANDONED)
    assert guard.unmet("reopen", abandoned, "identified", AT) == []
    assert guard.unmet("reopen", abandoned, "contacted", AT) == [
        "key_needs_confirmed",
        "meetings_recorded",
    ]


def test_opening_needs_the_first_stage_criteria(catalog: PolicyCatalog) -> None:
    guard = catalog.guard("five-level")
    with pytest.raises(CriteriaNotMet, match="'identified' not met: missing .*visit_arranged"):
        guard.check(
            "open", DealState(facts=MappingProxyType({"key_people_known": True})), "identified", AT
        )


def test_the_next_step_criterion_needs_a_live_next_step(catalog: PolicyCatalog) -> None:
    guard = catalog.guard("funnel-list")
    facts = ("project_approved", "sales_plan", "decision_chain_path")
    without = deal("opportunity", *facts, policy="funnel-list")
    assert guard.unmet("advance", without, "p25", AT) == ["next_step"]
    overdue = without.evolve(next_step=NextStep("call", AT - timedelta(hours=1), "rep", AT))
    assert guard.unmet("advance", overdue, "p25", AT) == ["next_step"]
    live = without.evolve(next_step=NextStep("call", AT + timedelta(days=2), "rep", AT))
    assert guard.unmet("advance", live, "p25", AT) == []


@pytest.mark.parametrize("value", [False, ""])
def test_a_false_or_empty_fact_does_not_meet_a_criterion(
    catalog: PolicyCatalog, value: FactValue
) -> None:
    state = deal("contacted").with_fact("needs_agreed", value)
    assert "needs_agreed" in catalog.guard("five-level").unmet("advance", state, "qualified", AT)


def test_the_guard_is_built_from_a_transitions_machine(catalog: PolicyCatalog) -> None:
    guard = StageGuard(catalog.get("funnel-list"))
    machine = guard._machine
    assert set(machine.states) == {
        "new",
        "opportunity",
        "p25",
        "p50",
        "p90",
        "won",
        "lost",
        "abandoned",
    }
    # Guard only: no model is bound, so nothing can fire on replay.
    assert machine.models == []
