"""A deal's stage intervals and attributes folded from its records (``stored_events``):
the folds the runner keeps the read models with.

They are ``stage_fold.StageFold`` and ``attribute_fold.AttributeFold`` over records
instead of domain events, so a rebuild builds no domain event. The domain's folds stay
the definition: tests/unit/test_stored_fold.py proves these equal to them, row for row,
for generated histories (backdating, regressions, reopenings, outcomes, every policy).
"""

from __future__ import annotations

from salesengine.projections.attribute_fold import Segments
from salesengine.projections.base import Payload, Record
from salesengine.projections.stage_fold import VIA, StageRows

# The attributes a segment holds, in ``attribute_fold.attributes``'s order.
KEY, POLICY, ACCOUNT, OWNER, TEAM, REGION, AMOUNT, CURRENCY, CLOSE, ACTION, DUE = range(11)
_CLOSED = frozenset({"Won", "Lost", "Abandoned"})


class RecordStageFold(StageRows):
    """``StageFold`` over records."""

    __slots__ = ()

    def push(self, record: Record) -> int:
        """Fold in the next stage change; the index of the first row that changed."""
        if not self.rows:
            if record.kind != "Opened":
                return 0  # pragma: no cover - a deal's first event is always its opening
            policy = record.data[POLICY]
        else:
            policy = self.rows[0][0]
        reason = None if record.kind in ("Opened", "StageAdvanced", "Won") else record.reason
        return self.enter(
            policy,
            record.stage,
            VIA[record.kind],
            reason,
            record.version,
            record.effective_us,
            record.policy_version,
        )


class RecordAttributeFold(Segments):
    """``AttributeFold`` over records. The attributes are all the state it needs."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        super().__init__()
        self.values: Payload = (None,) * 11

    def push(self, record: Record) -> int:
        """Fold in the next event; the index of the first row that changed."""
        self.values = values = evolve(self.values, record)
        return self.add(record.effective_us, values)


def evolve(values: Payload, record: Record) -> Payload:
    """The attributes after an event: what ``Deal.*.evolve`` does to the ``DealState``
    fields ``attribute_fold.attributes`` reads."""
    kind = record.kind
    data = record.data
    if kind == "Opened":
        return (*data, None, None)
    if kind == "AmountChanged":
        return (*values[:AMOUNT], data[0], data[1], *values[CLOSE:])
    if kind == "ExpectedCloseChanged":
        return (*values[:CLOSE], data[0], *values[ACTION:])
    if kind == "OwnerChanged":
        owner, team, region = data
        return (
            *values[:OWNER],
            owner,
            values[TEAM] if team is None else team,
            values[REGION] if region is None else region,
            *values[AMOUNT:],
        )
    if kind in ("NextStepSet", "Reopened"):
        return (*values[:ACTION], data[0], data[1])
    if kind == "NextStepCompleted" or kind in _CLOSED:
        return (*values[:ACTION], None, None)
    return values  # stage moves within the funnel change no attribute
