"""Rules that must hold for every history, checked with hypothesis."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.domain.deal import Deal, fold, timeline_order
from salesengine.domain.errors import SalesEngineError
from salesengine.domain.guard import Trigger
from salesengine.domain.state import DealState
from salesengine.domain.values import Status
from salesengine.policies.catalog import PolicyCatalog
from tests.support.clock import T0, Clock
from tests.support.commands import SEED_POLICIES, cmd
from tests.support.deal_events import deal_events

CATALOG = PolicyCatalog()
# The seed policies; the import policies (bpi2012, maven) are exercised by their imports.
POLICIES = [name for name in CATALOG.names() if name in SEED_POLICIES]
NOW = T0 + timedelta(days=400)


def criteria_keys(policy: str) -> list[str]:
    return sorted(
        {c.key for s in CATALOG.get(policy).stages for c in s.criteria if c.source == "fact"}
    )


@st.composite
def histories(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]]:
    """A policy and a random command sequence for one deal, with backdated times."""
    policy = draw(st.sampled_from(POLICIES))
    stages = list(CATALOG.get(policy).stage_keys)
    facts = criteria_keys(policy)
    first = {c.key: True for c in CATALOG.get(policy).first_stage.criteria}
    opening: dict[str, Any] = {"cmd": "open", "policy": policy, "at": T0, "facts": first}
    commands: list[dict[str, Any]] = [opening]
    at = T0
    for _ in range(draw(st.integers(1, 30))):
        # Mostly forward in time, sometimes backdated, occasionally before the opening.
        at = at + timedelta(hours=draw(st.integers(-72, 120)))
        kind = draw(
            st.sampled_from(
                [
                    "fact",
                    "fact",
                    "fact",
                    "retract",
                    "advance",
                    "advance",
                    "regress",
                    "visit",
                    "next_step",
                    "done",
                    "amount",
                    "won",
                    "lost",
                    "abandon",
                    "reopen",
                    "owner",
                ]
            )
        )
        c: dict[str, Any] = {"cmd": kind, "at": at}
        if kind in ("fact", "retract"):
            c["name"] = draw(st.sampled_from(facts))
        if kind == "fact" and draw(st.integers(0, 5)) == 0:
            c["value"] = False  # recorded, but meets no criterion: a retraction in effect
        if kind in ("advance", "regress", "reopen"):
            c["to"] = draw(st.sampled_from(stages))
        if kind == "regress":
            c["reason"] = "re-qualify"
        if kind == "next_step":
            c["action"] = "call"
            c["due"] = (at + timedelta(days=draw(st.integers(-2, 20)))).isoformat()
        if kind == "amount":
            c["amount"] = str(draw(st.integers(0, 10**7)))
        if kind == "visit":
            c["effective"] = draw(st.booleans())
        if kind == "owner":
            c["owner"] = draw(st.sampled_from(["Li Wei", "王芳"]))
        commands.append(c)
    return policy, commands


@pytest.fixture
def fresh_engine() -> Iterator[Callable[[], SalesEngine]]:
    engines: list[SalesEngine] = []

    def make() -> SalesEngine:
        engine = build_engine("sqlite:///:memory:", clock=Clock(NOW), actor="prop")
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


def apply_all(engine: SalesEngine, commands: list[dict[str, Any]]) -> list[bool]:
    accepted = []
    for c in commands:
        try:
            engine.execute(cmd(deal="D", **c))
            accepted.append(True)
        except SalesEngineError:
            accepted.append(False)
    return accepted


PROPERTY = settings(
    max_examples=int(os.environ.get("SALESENGINE_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY
@given(history=histories())
def test_replaying_a_deals_events_rebuilds_an_identical_state(
    fresh_engine: Callable[[], SalesEngine], history: tuple[str, list[dict[str, Any]]]
) -> None:
    engine = fresh_engine()
    _, commands = history
    accepted = apply_all(engine, commands)
    deal = engine.load("D")
    stored = list(engine.events.get(deal.id))
    assert len(stored) == sum(accepted), "every accepted command is one event, refusals none"
    replayed: Deal = engine.repository.get(deal.id)
    assert isinstance(replayed, Deal)
    assert replayed.state == deal.state
    assert fold(timeline_order(deal_events(stored))) == deal.state


@PROPERTY
@given(history=histories())
def test_any_command_sequence_is_refused_or_leaves_a_state_its_policy_allows(
    fresh_engine: Callable[[], SalesEngine], history: tuple[str, list[dict[str, Any]]]
) -> None:
    engine = fresh_engine()
    policy_name, commands = history
    apply_all(engine, commands)
    deal = engine.load("D")
    policy = CATALOG.get(policy_name)
    guard = CATALOG.guard(policy_name)
    state = deal.state
    assert state.stage in policy.stage_keys
    assert state.status in (Status.OPEN, Status.WON, Status.LOST, Status.ABANDONED)
    assert (state.closed_at is not None) == state.status.is_terminal
    assert state.next_step is None or state.status is Status.OPEN

    by_version = sorted(deal.timeline, key=lambda e: e.originator_version)
    moves = [e for e in by_version if e.moves_stage]
    assert [m.effective_at for m in moves] == sorted(m.effective_at for m in moves), (
        "stage changes never reorder the stage timeline"
    )
    for event in by_version:
        if not isinstance(event, Deal.StageAdvanced | Deal.Reopened):
            continue
        # What the guard saw: events recorded before this one, effective by its time.
        seen = fold(
            timeline_order(
                e
                for e in by_version
                if e.originator_version < event.originator_version
                and e.effective_at <= event.effective_at
            )
        )
        trigger: Trigger = "advance" if isinstance(event, Deal.StageAdvanced) else "reopen"
        assert guard.unmet(trigger, seen, event.to_stage, event.effective_at) == []


@st.composite
def evidence_histories(draw: st.DrawFn) -> tuple[str, list[dict[str, Any]]]:
    """A deal holding every fact its policy asks for and a next step, that moves on and
    then has its evidence changed, often backdated before its moves."""
    policy = draw(st.sampled_from(POLICIES))
    stages = list(CATALOG.get(policy).stage_keys)
    facts = criteria_keys(policy)
    due = (T0 + timedelta(days=30)).isoformat()
    commands: list[dict[str, Any]] = [
        {"cmd": "open", "policy": policy, "at": T0, "facts": dict.fromkeys(facts, True)},
        {"cmd": "next_step", "action": "call", "due": due, "at": T0},
    ]
    at = T0
    for _ in range(draw(st.integers(1, 20))):
        at = at + timedelta(hours=draw(st.integers(1, 48)))
        kind = draw(st.sampled_from(["advance", "advance", "reopen", "lost", "evidence"]))
        if kind == "evidence":
            back = at - timedelta(hours=draw(st.integers(0, 200)))
            change = draw(st.sampled_from(["retract", "false", "fact", "done", "next_step"]))
            c: dict[str, Any] = {"cmd": change, "at": max(back, T0)}
            if change in ("retract", "false", "fact"):
                c["name"] = draw(st.sampled_from(facts))
            if change == "false":
                c["cmd"], c["value"] = "fact", False
            if change == "next_step":
                c["action"] = "call"
                c["due"] = (back + timedelta(days=draw(st.integers(-3, 30)))).isoformat()
            commands.append(c)
            continue
        c = {"cmd": kind, "at": at}
        if kind in ("advance", "reopen"):
            c["to"] = draw(st.sampled_from(stages))
        if kind == "reopen":
            c["next_step"] = {"action": "call", "due": (at + timedelta(days=20)).isoformat()}
        commands.append(c)
    return policy, commands


@PROPERTY
@given(history=st.one_of(histories(), evidence_histories()))
def test_every_move_in_the_history_as_known_now_had_what_it_was_decided_on(
    fresh_engine: Callable[[], SalesEngine], history: tuple[str, list[dict[str, Any]]]
) -> None:
    """Backdated evidence never undermines a later move: replaying the deal's timeline as
    it is known now, every advance and reopening meets its entry criteria on the deal
    just before it, every retraction finds its fact and every completion its next step."""
    engine = fresh_engine()
    policy_name, commands = history
    apply_all(engine, commands)
    guard = CATALOG.guard(policy_name)
    state = DealState()
    for event in engine.load("D").timeline:  # timeline order, everything known
        if isinstance(event, Deal.StageAdvanced):
            missing = guard.unmet("advance", state, event.to_stage, event.effective_at)
            assert missing == [], f"v{event.originator_version} entered {event.to_stage}"
        elif isinstance(event, Deal.Reopened):
            brought = state if event.next_step is None else state.evolve(next_step=event.next_step)
            assert guard.unmet("reopen", brought, event.to_stage, event.effective_at) == []
        elif isinstance(event, Deal.FactRetracted):
            assert event.name in state.facts, f"v{event.originator_version} retracts nothing"
        elif isinstance(event, Deal.NextStepCompleted):
            assert state.next_step is not None, f"v{event.originator_version} completes nothing"
        state = event.evolve(state)


def test_a_history_that_only_moves_forward_within_criteria_is_fully_accepted(
    fresh_engine: Callable[[], SalesEngine],
) -> None:
    """A control for the properties above: a valid history is not refused anywhere."""
    engine = fresh_engine()
    policy = CATALOG.get("funnel-list")
    at: datetime = T0
    commands: list[dict[str, Any]] = [{"cmd": "open", "policy": policy.name, "at": at}]
    for stage in policy.stages[1:]:
        at += timedelta(days=1)
        commands.append(
            {
                "cmd": "next_step",
                "action": "meet",
                "at": at,
                "due": (at + timedelta(days=7)).isoformat(),
            }
        )
        commands += [
            {"cmd": "fact", "name": c.key, "at": at} for c in stage.criteria if c.source == "fact"
        ]
        commands.append({"cmd": "advance", "to": stage.key, "at": at})
    commands.append({"cmd": "won", "at": at + timedelta(days=1)})
    assert all(apply_all(engine, commands))
    assert engine.load("D").state.status is Status.WON


@PROPERTY
@given(
    history=histories(),
    hours=st.integers(-24, 24 * 120),
    known=st.one_of(st.none(), st.integers(0, 24 * 400)),
)
def test_a_deal_read_as_data_stands_where_the_aggregate_does(
    fresh_engine: Callable[[], SalesEngine],
    history: tuple[str, list[dict[str, Any]]],
    hours: int,
    known: int | None,
) -> None:
    engine = fresh_engine()
    _, commands = history
    apply_all(engine, commands)
    deal = engine.load("D")
    data = engine.deal_events("D")
    assert not isinstance(data, Deal)  # readers get data, never the aggregate
    assert (data.key, data.id, data.version) == ("D", deal.id, deal.version)
    assert data.timeline == tuple(deal.timeline) and data.state == deal.state
    at = T0 + timedelta(hours=hours)
    known_at = None if known is None else T0 + timedelta(hours=known)
    assert data.state_at(at, known_at) == deal.state_at(at, known_at)
    with pytest.raises(AttributeError):
        data.state = DealState()  # type: ignore[misc]  # read-only, as the test checks
