"""Rules that must hold for every history, checked with hypothesis."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.domain.deal import Deal, fold, timeline_order
from salesengine.domain.errors import SalesEngineError
from salesengine.domain.values import Status
from salesengine.policies.catalog import PolicyCatalog
from tests.conftest import SEED_POLICIES, T0, Clock, cmd

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
def fresh_engine() -> Iterator[Any]:
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
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@PROPERTY
@given(history=histories())
def test_replaying_a_deals_events_rebuilds_an_identical_state(
    fresh_engine: Any, history: tuple[str, list[dict[str, Any]]]
) -> None:
    engine = fresh_engine()
    _, commands = history
    accepted = apply_all(engine, commands)
    deal = engine.load("D")
    stored = list(engine.events.get(deal.id))
    assert len(stored) == sum(accepted), "every accepted command is one event, refusals none"
    replayed = engine.repository.get(deal.id)
    assert isinstance(replayed, Deal)
    assert replayed.state == deal.state
    assert fold(timeline_order(stored)) == deal.state  # type: ignore[arg-type]


@PROPERTY
@given(history=histories())
def test_any_command_sequence_is_refused_or_leaves_a_state_its_policy_allows(
    fresh_engine: Any, history: tuple[str, list[dict[str, Any]]]
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
        trigger = "advance" if isinstance(event, Deal.StageAdvanced) else "reopen"
        assert guard.unmet(trigger, seen, event.to_stage, event.effective_at) == []


def test_a_history_that_only_moves_forward_within_criteria_is_fully_accepted(
    fresh_engine: Any,
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
