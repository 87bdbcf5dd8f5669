"""The Funnel List rule: a deal without a live Next Step falls back to the 0% class.

A pure decision over a deal's state; the application records it as a stage-regressed
event, so the rule itself never writes and can be re-run safely.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from salesengine.domain.policy import FunnelPolicy
from salesengine.domain.state import DealState
from salesengine.domain.values import Status


@dataclass(frozen=True, slots=True)
class FallBack:
    to: str
    reason: str
    effective_at: datetime


def decide_fallback(policy: FunnelPolicy, state: DealState, at: datetime) -> FallBack | None:
    """Whether the deal, as it stands at ``at``, must fall back, and since when."""
    rule = policy.fallback
    if rule is None or state.status is not Status.OPEN or state.stage == rule.to:
        return None
    if not policy.stage(state.stage).time_rules.next_step_required:
        return None
    if state.has_live_next_step(at):
        return None
    entered = state.stage_entered_at
    assert entered is not None
    # The deal fell back the moment the rule was first broken: when its step fell overdue,
    # or when its last step was done (or fell overdue first), or when it entered the stage
    # without one; never before it entered the stage.
    if state.next_step is not None:
        breached = state.next_step.due
    elif state.next_step_closed_at is not None:
        due = state.next_step_closed_due
        breached = min(state.next_step_closed_at, due) if due else state.next_step_closed_at
    else:
        breached = entered
    return FallBack(to=rule.to, reason=rule.reason, effective_at=max(breached, entered))
