"""Every refusal says what would be accepted instead, and that command is accepted.

Each case sets a deal up, sends a command the engine refuses, checks the refusal's code
and that its message names the way out (a command, a stage, a time), then sends that
way out and checks it is accepted. Together the cases cover every refusal code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from salesengine.application.all_or_nothing import execute_all
from salesengine.application.engine import SalesEngine
from salesengine.domain import errors
from salesengine.domain.errors import CommandRefused, SalesEngineError
from salesengine.domain.values import Stamp
from tests.support.clock import T0
from tests.support.commands import FIVE_LEVEL_OPENING, cmd

CONTACTED = ("decision_makers_identified", "key_needs_confirmed", "meetings_recorded")
P25 = ("project_approved", "sales_plan", "decision_chain_path")


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat()


def open_five(deal: str = "D", hours: float = 0) -> dict[str, Any]:
    return {
        "cmd": "open",
        "deal": deal,
        "policy": "five-level",
        "at": at(hours),
        "facts": FIVE_LEVEL_OPENING,
    }


def facts(names: tuple[str, ...], hours: float, deal: str = "D") -> list[dict[str, Any]]:
    return [{"cmd": "fact", "deal": deal, "name": n, "at": at(hours)} for n in names]


def step(hours: float, deal: str = "D", due_days: int = 7) -> dict[str, Any]:
    due = (T0 + timedelta(hours=hours, days=due_days)).isoformat()
    return {"cmd": "next_step", "deal": deal, "action": "call", "due": due, "at": at(hours)}


AT_CONTACTED = [
    open_five(),
    *facts(CONTACTED, 1),
    {"cmd": "advance", "deal": "D", "to": "contacted", "at": at(2)},
]
LOST = [open_five(), {"cmd": "lost", "deal": "D", "at": at(2)}]
WON = [open_five(), {"cmd": "won", "deal": "D", "at": at(2)}]
FUNNEL_LIST = [{"cmd": "open", "deal": "F", "policy": "funnel-list", "at": at(0)}]


@dataclass(frozen=True)
class Case:
    name: str
    setup: list[dict[str, Any]]
    refused: dict[str, Any]
    code: str
    says: tuple[str, ...]  # what the message must name: the way out
    instead: list[dict[str, Any]] = field(default_factory=list)  # accepted, in order


CASES = [
    # A backdated stage change: record the same move at or after the latest one.
    Case(
        "backdated regress",
        AT_CONTACTED,
        {"cmd": "regress", "deal": "D", "to": "identified", "reason": "r", "at": at(1.5)},
        "invalid_time",
        ("regress", at(2)),
        [{"cmd": "regress", "deal": "D", "to": "identified", "reason": "r", "at": at(2)}],
    ),
    Case(
        "backdated lost",
        AT_CONTACTED,
        {"cmd": "lost", "deal": "D", "at": at(1.5)},
        "invalid_time",
        ("lost", at(2)),
        [{"cmd": "lost", "deal": "D", "at": at(2)}],
    ),
    Case(
        "backdated advance",
        [
            *AT_CONTACTED,
            {"cmd": "regress", "deal": "D", "to": "identified", "reason": "r", "at": at(3)},
        ],
        {"cmd": "advance", "deal": "D", "to": "contacted", "at": at(2.5)},
        "invalid_time",
        ("advance", at(3)),
        [{"cmd": "advance", "deal": "D", "to": "contacted", "at": at(3)}],
    ),
    Case(
        "backdated reopen",
        LOST,
        {"cmd": "reopen", "deal": "D", "to": "identified", "at": at(1)},
        "invalid_time",
        ("reopen", at(2)),
        [{"cmd": "reopen", "deal": "D", "to": "identified", "at": at(2)}],
    ),
    Case(
        "backdated abandon",
        AT_CONTACTED,
        {"cmd": "abandon", "deal": "D", "at": at(1)},
        "invalid_time",
        ("abandon", at(2)),
        [{"cmd": "abandon", "deal": "D", "at": at(2)}],
    ),
    Case(
        "won before the latest next step",
        [open_five(), step(3)],
        {"cmd": "won", "deal": "D", "at": at(2)},
        "invalid_time",
        ("won", at(3)),
        [{"cmd": "won", "deal": "D", "at": at(3)}],
    ),
    Case(
        "before the opening",
        [open_five(hours=1)],
        {"cmd": "fact", "deal": "D", "name": "budget", "at": at(0)},
        "invalid_time",
        (at(1),),
        [{"cmd": "fact", "deal": "D", "name": "budget", "at": at(1)}],
    ),
    Case(
        "in the future",
        [open_five()],
        {"cmd": "fact", "deal": "D", "name": "budget", "at": at(24 * 90)},
        "invalid_time",
        ("now or earlier",),
        [{"cmd": "fact", "deal": "D", "name": "budget"}],
    ),
    Case(
        "advance without the facts",
        [open_five()],
        {"cmd": "advance", "deal": "D", "to": "contacted", "at": at(2)},
        "criteria_not_met",
        ("with fact",),
        [*facts(CONTACTED, 1), {"cmd": "advance", "deal": "D", "to": "contacted", "at": at(2)}],
    ),
    Case(
        "open without the facts",
        [],
        {"cmd": "open", "deal": "D", "policy": "five-level", "at": at(0)},
        "criteria_not_met",
        ("with the opening", "facts"),
        [open_five()],
    ),
    Case(
        "advance without a next step",
        [*FUNNEL_LIST, *facts(P25, 1, "F")],
        {"cmd": "advance", "deal": "F", "to": "p25", "at": at(2)},
        "criteria_not_met",
        ("next_step",),
        [step(2, "F"), {"cmd": "advance", "deal": "F", "to": "p25", "at": at(2)}],
    ),
    Case(
        "reopen without the evidence",
        [*FUNNEL_LIST, {"cmd": "lost", "deal": "F", "at": at(1)}],
        {"cmd": "reopen", "deal": "F", "to": "p25", "at": at(2)},
        "criteria_not_met",
        ("with fact", "give the reopen a next_step"),
        [
            *facts(P25, 1.5, "F"),
            {
                "cmd": "reopen",
                "deal": "F",
                "to": "p25",
                "at": at(2),
                "next_step": {"action": "call", "due": at(24 * 7)},
            },
        ],
    ),
    Case(
        "a stage the policy lacks",
        [open_five(), *facts(CONTACTED, 1)],
        {"cmd": "advance", "deal": "D", "to": "negotiation", "at": at(2)},
        "move_not_allowed",
        ("its stages: identified, contacted",),
        [{"cmd": "advance", "deal": "D", "to": "contacted", "at": at(2)}],
    ),
    Case(
        "advance to an earlier stage",
        AT_CONTACTED,
        {"cmd": "advance", "deal": "D", "to": "identified", "at": at(3)},
        "move_not_allowed",
        ("regress to it",),
        [{"cmd": "regress", "deal": "D", "to": "identified", "reason": "r", "at": at(3)}],
    ),
    Case(
        "advance to the stage it is in",
        [open_five(), *facts(CONTACTED, 1)],
        {"cmd": "advance", "deal": "D", "to": "identified", "at": at(2)},
        "move_not_allowed",
        ("advance to a later stage (contacted",),
        [{"cmd": "advance", "deal": "D", "to": "contacted", "at": at(2)}],
    ),
    Case(
        "regress to a later stage",
        [open_five(), *facts(CONTACTED, 1)],
        {"cmd": "regress", "deal": "D", "to": "contacted", "reason": "r", "at": at(2)},
        "move_not_allowed",
        ("advance to it",),
        [{"cmd": "advance", "deal": "D", "to": "contacted", "at": at(2)}],
    ),
    Case(
        "regress to the stage it is in",
        AT_CONTACTED,
        {"cmd": "regress", "deal": "D", "to": "contacted", "reason": "r", "at": at(3)},
        "move_not_allowed",
        ("regress to an earlier stage (identified)",),
        [{"cmd": "regress", "deal": "D", "to": "identified", "reason": "r", "at": at(3)}],
    ),
    Case(
        "regress to an outcome",
        AT_CONTACTED,
        {"cmd": "regress", "deal": "D", "to": "lost", "reason": "r", "at": at(3)},
        "move_not_allowed",
        ("won, lost or abandon",),
        [{"cmd": "lost", "deal": "D", "at": at(3)}],
    ),
    Case(
        "lost again",
        LOST,
        {"cmd": "lost", "deal": "D", "at": at(3)},
        "move_not_allowed",
        ("reopen it first",),
        [{"cmd": "reopen", "deal": "D", "to": "identified", "at": at(3)}],
    ),
    Case(
        "a move of a won deal",
        WON,
        {"cmd": "regress", "deal": "D", "to": "identified", "reason": "r", "at": at(3)},
        "move_not_allowed",
        ("visits",),
        [{"cmd": "visit", "deal": "D", "at": at(3)}],
    ),
    Case(
        "reopen an open deal",
        [open_five(), *facts(CONTACTED, 1)],
        {"cmd": "reopen", "deal": "D", "to": "contacted", "at": at(2)},
        "move_not_allowed",
        ("advance or regress",),
        [{"cmd": "advance", "deal": "D", "to": "contacted", "at": at(2)}],
    ),
    Case(
        "a next step on a lost deal",
        LOST,
        {**step(3)},
        "deal_closed",
        ("reopen", "next step"),
        [
            {
                "cmd": "reopen",
                "deal": "D",
                "to": "identified",
                "at": at(3),
                "next_step": {"action": "call", "due": at(24 * 7)},
            },
        ],
    ),
    Case(
        "a next step on a won deal",
        WON,
        {**step(3)},
        "deal_closed",
        ("visits",),
        [{"cmd": "visit", "deal": "D", "at": at(3)}],
    ),
    Case(
        "done without a next step",
        [open_five()],
        {"cmd": "done", "deal": "D", "at": at(2)},
        "no_open_next_step",
        ("next_step first",),
        [step(2), {"cmd": "done", "deal": "D", "at": at(2)}],
    ),
    Case(
        "done before the next step was set",
        [open_five(), step(5)],
        {"cmd": "done", "deal": "D", "at": at(3)},
        "no_open_next_step",
        (at(5),),
        [{"cmd": "done", "deal": "D", "at": at(5)}],
    ),
    Case(
        "done on a lost deal",
        LOST,
        {"cmd": "done", "deal": "D", "at": at(3)},
        "no_open_next_step",
        ("reopen",),
        [
            {
                "cmd": "reopen",
                "deal": "D",
                "to": "identified",
                "at": at(3),
                "next_step": {"action": "call", "due": at(24 * 7)},
            },
            {"cmd": "done", "deal": "D", "at": at(3)},
        ],
    ),
    # A backdated retraction the advance after it was decided on: retract it effective
    # at or after that advance (docs/rules.md, "Backdated evidence").
    Case(
        "retract evidence a later advance needed",
        AT_CONTACTED,
        {"cmd": "retract", "deal": "D", "name": "meetings_recorded", "at": at(1.5)},
        "undermines_later_move",
        (at(2),),
        [{"cmd": "retract", "deal": "D", "name": "meetings_recorded", "at": at(2)}],
    ),
    Case(
        "retract a fact never recorded",
        [open_five()],
        {"cmd": "retract", "deal": "D", "name": "budget", "at": at(2)},
        "unknown_fact",
        ("key_people_known",),
        [{"cmd": "retract", "deal": "D", "name": "key_people_known", "at": at(2)}],
    ),
    Case(
        "retract a fact before it was recorded",
        [open_five(), *facts(("budget",), 5)],
        {"cmd": "retract", "deal": "D", "name": "budget", "at": at(2)},
        "unknown_fact",
        (at(5),),
        [{"cmd": "retract", "deal": "D", "name": "budget", "at": at(5)}],
    ),
    Case(
        "retract a fact twice",
        [
            open_five(),
            *facts(("budget",), 1),
            {"cmd": "retract", "deal": "D", "name": "budget", "at": at(2)},
        ],
        {"cmd": "retract", "deal": "D", "name": "budget", "at": at(3)},
        "unknown_fact",
        ("fact records it again",),
        [*facts(("budget",), 3), {"cmd": "retract", "deal": "D", "name": "budget", "at": at(3)}],
    ),
    Case(
        "retract key information never recorded",
        [open_five()],
        {"cmd": "retract_key_info", "deal": "D", "topic": "budget", "at": at(2)},
        "unknown_key_info",
        ("key_info records a topic",),
        [
            {
                "cmd": "key_info",
                "deal": "D",
                "info": {"topic": "budget", "amount": "5"},
                "at": at(2),
            },
            {"cmd": "retract_key_info", "deal": "D", "topic": "budget", "at": at(2)},
        ],
    ),
    Case(
        "retract key information before it was recorded",
        [
            open_five(),
            {
                "cmd": "key_info",
                "deal": "D",
                "info": {"topic": "budget", "amount": "5"},
                "at": at(5),
            },
        ],
        {"cmd": "retract_key_info", "deal": "D", "topic": "budget", "at": at(2)},
        "unknown_key_info",
        (at(5),),
        [{"cmd": "retract_key_info", "deal": "D", "topic": "budget", "at": at(5)}],
    ),
    Case(
        "an id reused",
        [open_five(), {**facts(("budget",), 1)[0], "id": "c-1"}],
        {**facts(("schedule",), 1)[0], "id": "c-1"},
        "id_reused",
        ("new id",),
        [{**facts(("schedule",), 1)[0], "id": "c-2"}],
    ),
    Case(
        "open twice",
        [open_five()],
        open_five(hours=1),
        "deal_exists",
        ("fact", "another key"),
        [*facts(("budget",), 1)],
    ),
    Case(
        "a deal never opened",
        [],
        facts(("budget",), 1)[0],
        "unknown_deal",
        ("open it first",),
        [open_five(), *facts(("budget",), 1)],
    ),
    Case(
        "a policy that is not there",
        [],
        {**open_five(), "policy": "five-levels"},
        "unknown_policy",
        ("five-level,",),
        [open_five()],
    ),
]


def run(engine: SalesEngine, commands: list[dict[str, Any]]) -> None:
    for fields in commands:
        result = engine.execute(cmd(**fields))
        assert result.status == "applied", fields


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_refusal_names_what_would_be_accepted(memory_engine: SalesEngine, case: Case) -> None:
    run(memory_engine, case.setup)
    with pytest.raises(SalesEngineError) as refused:
        memory_engine.execute(cmd(**case.refused))
    assert refused.value.code == case.code
    message = refused.value.message
    for needed in case.says:
        assert needed in message, message
    assert "record a regression or reopening instead" not in message
    run(memory_engine, case.instead)


def test_a_regression_without_a_reason_says_to_give_one(memory_engine: SalesEngine) -> None:
    # The command language refuses a blank reason itself; the aggregate says why too.
    run(memory_engine, AT_CONTACTED)
    deal = memory_engine.load("D")
    now: datetime = memory_engine.clock()
    with pytest.raises(CommandRefused) as refused:
        deal.regress(
            memory_engine.catalog.guard("five-level"), "identified", " ", Stamp(now, now, "t")
        )
    assert refused.value.code == "refused"
    assert "give the regress one (reason)" in refused.value.message
    run(
        memory_engine,
        [{"cmd": "regress", "deal": "D", "to": "identified", "reason": "r", "at": at(3)}],
    )


def test_the_cases_cover_every_refusal_code() -> None:
    codes = {
        kind.code
        for kind in vars(errors).values()
        if isinstance(kind, type) and issubclass(kind, CommandRefused)
    }
    # group_refused is an import's: a row's command not applied because another was;
    # out_of_scope a scoped writer's (the next test).
    assert codes - {"refused", "group_refused", "out_of_scope"} == {c.code for c in CASES}


def test_a_write_out_of_the_writers_reach_names_the_scope(memory_engine: SalesEngine) -> None:
    from salesengine.application.results import RefusedAt

    run(memory_engine, [open_five()])
    mine = memory_engine.find("D")
    assert mine is not None
    owner = mine.state.owner

    def admits(owner_of: str | None, team: str | None, policy: str | None) -> bool:
        return owner_of == owner

    handed = cmd(cmd="owner", deal="D", owner="someone else", at=at(2))
    with pytest.raises(RefusedAt) as refused:
        execute_all(memory_engine, [handed], admits=admits)
    assert refused.value.index == 0
    assert refused.value.error.code == "out_of_scope"
    assert "within your scope" in refused.value.error.message
    assert memory_engine.load("D").state.owner == owner
