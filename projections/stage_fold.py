"""A deal's stage intervals as a function of its stage-changing events: the definition
of the ``stage_intervals`` read model, and the fold behind the exported intervals.

A deal's stage timeline is its opening stage, then every stage change (advance, regress
including the fall-back, reopen, and the outcomes won, lost and abandoned), in timeline
order; each interval ends where the next begins, and the last one is open. The runner
keeps the read model with ``stored_fold.RecordStageFold``, the same fold over the
stored events' records, which tests/unit/test_stored_fold.py proves equal to this one.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from salesengine.domain.deal import Deal, DealEvent
from salesengine.projections.base import Payload, to_us

VIA = {
    "Opened": "opened",
    "StageAdvanced": "advanced",
    "StageRegressed": "regressed",
    "Reopened": "reopened",
    "Won": "won",
    "Lost": "lost",
    "Abandoned": "abandoned",
}


def entered(event: DealEvent) -> tuple[str, str | None]:
    """The stage (or outcome) a stage-changing event enters, and its reason."""
    match event:
        case Deal.Opened(stage=stage):
            return stage, None
        case Deal.StageAdvanced(to_stage=stage):
            return stage, None
        case Deal.StageRegressed(to_stage=stage, reason=reason):
            return stage, reason
        case Deal.Reopened(to_stage=stage, reason=reason):
            return stage, reason
        case Deal.Won():
            return "won", None
        case Deal.Lost(reason=reason):
            return "lost", reason
        case Deal.Abandoned(reason=reason):
            return "abandoned", reason
    raise TypeError(f"{type(event).__name__} does not change the stage")


def stage_rows(events: Sequence[DealEvent]) -> list[Payload]:
    """(policy, stage, via, reason, entered_version, entered_at, exited_at) per interval."""
    fold = StageFold()
    for event in events:
        fold.push(event)
    return fold.rows


class StageRows:
    """A deal's stage intervals as stage changes are pushed in timeline order: each
    closes the open interval where the new one begins, so only the last row changes
    and one is added. Beside each row, the policy version its interval was entered
    under (a stage change stored before they kept one counts under the previous
    interval's). Shared by the domain's fold and the records' fold."""

    __slots__ = ("rows", "versions")

    def __init__(self) -> None:
        self.rows: list[Payload] = []
        self.versions: list[str] = []

    def enter(
        self,
        policy: Hashable,
        stage: str | None,
        via: str,
        reason: str | None,
        version: int,
        at: int,
        policy_version: str | None,
    ) -> int:
        """The interval entered at ``at``; the index of the first row that changed."""
        rows = self.rows
        changed = len(rows)
        if rows:
            changed -= 1
            rows[-1] = (*rows[-1][:6], at)
        rows.append((policy, stage, via, reason, version, at, None))
        versions = self.versions
        versions.append(policy_version or (versions[-1] if versions else ""))
        return changed


class StageFold(StageRows):
    """``stage_rows`` one event at a time, for events pushed in timeline order: a read
    model kept from this fold does constant work per event instead of recomputing the
    deal's whole timeline."""

    __slots__ = ()

    def push(self, event: DealEvent) -> int:
        """Fold in the next event; the index of the first row that changed."""
        if not self.rows:
            if not isinstance(event, Deal.Opened):
                return 0  # pragma: no cover - a deal's first event is always its opening
            policy: Hashable = event.policy
        else:
            policy = self.rows[0][0]
        stage, reason = entered(event)
        version: str | None = getattr(event, "policy_version", None)  # an Opened or a Move
        return self.enter(
            policy,
            stage,
            VIA[type(event).__name__],
            reason,
            event.originator_version,
            to_us(event.effective_at),
            version,
        )
