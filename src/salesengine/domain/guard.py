"""The stage guard: a ``transitions`` state machine built from a funnel policy.

The machine is used only as a guard. It answers "may this deal make this move, from
where it stands, with the evidence it has?" and never fires callbacks, so replaying
stored events can never trigger anything again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from transitions import Machine

from salesengine.domain.errors import CriteriaNotMet, MoveNotAllowed
from salesengine.domain.policy import Criterion, FunnelPolicy
from salesengine.domain.state import DealState
from salesengine.domain.values import OUTCOMES, Status

Trigger = Literal["open", "advance", "regress", "win", "lose", "abandon", "reopen"]
# The guard of a policy version, by (policy name, fingerprint); None if it is not known.
GuardLookup = Callable[[str, str], "StageGuard | None"]

_UNBORN = Status.NEW.value


@dataclass(frozen=True, slots=True)
class CriterionCheck:
    """A transition condition; called directly, never through a bound model."""

    criterion: Criterion

    @property
    def key(self) -> str:
        return self.criterion.key

    def __call__(self, state: DealState, at: datetime) -> bool:
        if self.criterion.source == "next_step":
            return state.has_live_next_step(at)
        return state.fact_holds(self.criterion.key)


class StageGuard:
    def __init__(self, policy: FunnelPolicy) -> None:
        self.policy = policy
        self._moves: dict[tuple[str, str, str], tuple[CriterionCheck, ...] | None] = {}
        stages = list(policy.stage_keys)
        self._machine = Machine(
            model=None,
            states=[_UNBORN, *stages, *OUTCOMES],
            initial=_UNBORN,
            auto_transitions=False,
        )
        # typed loosely: transitions' stubs expect plain callables, these are callable values
        checks: list[list[Any]] = [[CriterionCheck(c) for c in s.criteria] for s in policy.stages]
        add = self._machine.add_transition
        add("open", _UNBORN, stages[0], conditions=checks[0])
        for i, source in enumerate(stages):
            for j, dest in enumerate(stages):
                if j > i:
                    # Skipping is allowed, but the skipped stages' evidence is still needed.
                    needed = [c for k in range(i + 1, j + 1) for c in checks[k]]
                    add("advance", source, dest, conditions=needed)
                elif j < i:
                    add("regress", source, dest)
            add("win", source, Status.WON.value)
            add("lose", source, Status.LOST.value)
            add("abandon", source, Status.ABANDONED.value)
        for outcome in (Status.LOST.value, Status.ABANDONED.value):
            for j, dest in enumerate(stages):
                cumulative = [c for k in range(j + 1) for c in checks[k]]
                add("reopen", outcome, dest, conditions=cumulative)

    def unmet(self, trigger: Trigger, state: DealState, dest: str, at: datetime) -> list[str]:
        """Keys of the criteria the move still lacks; raises if the move is never allowed."""
        source = _UNBORN if state.status is Status.NEW else state.position
        checks = self._checks(trigger, source, dest)
        if checks is None:
            raise MoveNotAllowed(self._explain(trigger, source, dest))
        missing: list[str] = []
        for check in checks:
            if not check(state, at) and check.key not in missing:
                missing.append(check.key)
        return missing

    def _checks(
        self, trigger: Trigger, source: str, dest: str
    ) -> tuple[CriterionCheck, ...] | None:
        """The machine's conditions for a move, or None if it has no such transition.

        Asked once per move and remembered: the machine never changes after it is built.
        """
        move = (trigger, source, dest)
        try:
            return self._moves[move]
        except KeyError:
            pass
        found = self._machine.get_transitions(trigger, source, dest)
        checks: tuple[CriterionCheck, ...] | None = None
        if found:
            funcs = [c.func for c in found[0].conditions]
            checks = tuple(f for f in funcs if isinstance(f, CriterionCheck))
            assert len(checks) == len(funcs), "every condition is a CriterionCheck"
        self._moves[move] = checks
        return checks

    def check(self, trigger: Trigger, state: DealState, dest: str, at: datetime) -> None:
        missing = self.unmet(trigger, state, dest, at)
        if missing:
            raise CriteriaNotMet(dest, missing, self._evidence(trigger, missing))

    def _evidence(self, trigger: Trigger, missing: list[str]) -> str:
        """How to meet the missing criteria: facts, and a live next step."""
        steps = {c.key for s in self.policy.stages for c in s.criteria if c.source == "next_step"}
        facts = [key for key in missing if key not in steps]
        hints = []
        if facts:
            if trigger == "open":
                hints.append("give them with the opening (facts; --fact on the command line)")
            else:
                hints.append(f"record {'it' if len(facts) == 1 else 'each'} with fact first")
        if len(facts) < len(missing):
            hints.append(
                "give the reopen a next_step that is not overdue"
                if trigger == "reopen"
                else "set a next step that is not overdue with next_step first"
            )
        return "; ".join(hints)

    def _explain(self, trigger: Trigger, source: str, dest: str) -> str:
        """Why the move is never allowed from here, and what move would be."""
        stages = self.policy.stage_keys
        if dest not in set(stages) | set(OUTCOMES):
            known = ", ".join(stages)
            return f"policy '{self.policy.name}' has no stage '{dest}' (its stages: {known})"
        if source == Status.WON.value:
            final = (
                "a won deal is final: it takes facts, visits, amounts, close dates and owners, "
                "no stage move"
            )
            if trigger == "reopen":
                return f"cannot reopen a deal that is won: {final}"
            return f"deal is won; {final}"
        if source in OUTCOMES and trigger != "reopen":
            return (
                f"deal is {source}; only a lost or abandoned deal may be reopened: reopen it "
                "first (reopen --to a stage), then move it"
            )
        moving = f"cannot {trigger} from '{source}' to '{dest}'"
        outcome = "it is an outcome; record it with won, lost or abandon"
        place = stages.index(source) if source in stages else 0
        if trigger == "advance":
            if dest in OUTCOMES:
                return f"{moving}: {outcome}"
            if dest == source:
                later = stages[place + 1 :]
                return f"{moving}: it is not a later stage, the deal is there already" + (
                    f"; advance to a later stage ({', '.join(later)})"
                    if later
                    else "; record its outcome with won, lost or abandon"
                )
            return f"{moving}: it is not a later stage; regress to it, with a reason"
        if trigger == "regress":
            if dest in OUTCOMES:
                return f"{moving}: {outcome}"
            if dest == source:
                earlier = stages[:place]
                return f"{moving}: it is not an earlier stage, the deal is there already" + (
                    f"; regress to an earlier stage ({', '.join(earlier)})" if earlier else ""
                )
            return f"{moving}: it is not an earlier stage; advance to it"
        if trigger == "reopen":
            if dest in OUTCOMES:
                return f"cannot reopen to '{dest}': reopen to a stage ({', '.join(stages)})"
            return (
                f"cannot reopen a deal that is open at '{source}': only a lost or abandoned deal "
                "is reopened; move an open deal with advance or regress"
            )
        return f"'{trigger}' is not allowed from '{source}' to '{dest}'"
