"""The fall-back sweep: the Funnel List rule (``domain.fallback``) run over every open
deal as it stood at an instant, each breach recorded as a regression."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Protocol

from salesengine.application.commands import Regress
from salesengine.application.ports import PolicySource
from salesengine.application.results import CommandResult, FallenBack, SweepReport
from salesengine.domain.errors import CommandRefused, InvalidTime, UnknownPolicy
from salesengine.domain.fallback import decide_fallback
from salesengine.domain.state import DealState
from salesengine.domain.values import CLOCK_SKEW, Status, as_utc


class SweptEngine(Protocol):
    """What the sweep needs of the engine (``SalesEngine`` implements it)."""

    @property
    def catalog(self) -> PolicySource: ...

    @property
    def clock(self) -> Callable[[], datetime]: ...

    def deal_keys(self) -> Iterator[str]: ...

    def deal_state(
        self, key: str, as_of: datetime | None = None, known_at: datetime | None = None
    ) -> DealState: ...

    def execute(self, command: Regress) -> CommandResult: ...


def sweep(engine: SweptEngine, at: datetime | None, actor: str) -> SweepReport:
    """Run the fall-back rule over every open deal as it stood at ``at`` (now if None).

    Idempotent: a deal that already fell back no longer breaks the rule, and each
    fall-back carries a command id derived from the deal and the breach time.
    """
    now = engine.clock()
    at = as_utc(at) if at is not None else now
    if at > now + CLOCK_SKEW:
        raise InvalidTime(f"cannot sweep at {at.isoformat()}: it is in the future")
    report = SweepReport(at=at)
    for key in engine.deal_keys():
        state = engine.deal_state(key, as_of=at)
        if state.status is not Status.OPEN:
            continue
        try:
            policy = engine.catalog.get(state.policy)
        except UnknownPolicy as e:
            report.not_applicable.append((key, e.message))
            continue
        if policy.fallback is None:
            continue
        report.examined += 1
        if not policy.has_stage(state.stage):
            report.not_applicable.append(
                (key, f"stage '{state.stage}' is no longer in policy '{policy.name}'")
            )
            continue
        decision = decide_fallback(policy, state, at)
        if decision is None:
            report.unchanged += 1
            continue
        command = Regress(
            cmd="regress",
            id=f"sweep:{key}:{decision.effective_at.isoformat()}",
            deal=key,
            at=decision.effective_at,
            by=actor,
            to=decision.to,
            reason=decision.reason,
        )
        try:
            result = engine.execute(command)
        except CommandRefused as e:
            report.not_applicable.append((key, e.message))
            continue
        if result.status == "applied":
            report.fell_back.append(
                FallenBack(key, state.stage, decision.to, decision.effective_at)
            )
        else:
            report.unchanged += 1
    return report
