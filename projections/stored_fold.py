"""A deal's stage intervals and attributes folded from its records (``stored_events``):
the folds the runner keeps the read models with.

They are ``stage_fold.StageFold`` and ``attribute_fold.AttributeFold`` over records
instead of domain events, so a rebuild builds no domain event. The domain's folds stay
the definition: tests/unit/test_stored_fold.py proves these equal to them, row for row,
for generated histories (backdating, regressions, reopenings, outcomes, every policy).
"""

from __future__ import annotations

from salesengine.projections.base import Payload, Record
from salesengine.projections.stage_fold import VIA

# The attributes a segment holds, in ``attribute_fold.attributes``'s order.
KEY, POLICY, ACCOUNT, OWNER, TEAM, REGION, AMOUNT, CURRENCY, CLOSE, ACTION, DUE = range(11)
_CLOSED = frozenset({"Won", "Lost", "Abandoned"})


class RecordStageFold:
    """``StageFold`` over records: (policy, stage, via, reason, entered_version,
    entered_at, exited_at) per interval, and the policy version each was entered under."""

    __slots__ = ("rows", "versions")

    def __init__(self) -> None:
        self.rows: list[Payload] = []
        self.versions: list[str] = []

    def push(self, record: Record) -> int:
        """Fold in the next stage change; the index of the first row that changed."""
        rows = self.rows
        if not rows:
            if record.kind != "Opened":
                return 0  # pragma: no cover - a deal's first event is always its opening
            policy = record.data[POLICY]
        else:
            policy = rows[0][0]
        at = record.effective_us
        changed = len(rows)
        if rows:
            changed -= 1
            rows[-1] = (*rows[-1][:6], at)
        reason = None if record.kind in ("Opened", "StageAdvanced", "Won") else record.reason
        rows.append((policy, record.stage, VIA[record.kind], reason, record.version, at, None))
        versions = self.versions
        versions.append(record.policy_version or (versions[-1] if versions else ""))
        return changed


class RecordAttributeFold:
    """``AttributeFold`` over records: segments (valid_from, attributes) in which nothing
    reportable changed. The attributes are all the state it needs."""

    __slots__ = ("segments", "values")

    def __init__(self) -> None:
        self.values: tuple[object, ...] = (None,) * 11
        self.segments: list[tuple[int, Payload]] = []

    def push(self, record: Record) -> int:
        """Fold in the next event; the index of the first row that changed."""
        self.values = values = evolve(self.values, record)
        start = record.effective_us
        segments = self.segments
        if segments and segments[-1][0] == start:
            segments.pop()  # superseded at the same instant: the later event holds
        changed = max(0, len(segments) - 1)
        if segments and segments[-1][1] == values:
            return changed
        segments.append((start, values))
        return changed

    @property
    def size(self) -> int:
        return len(self.segments)

    def rows_from(self, index: int) -> list[Payload]:
        segments = self.segments
        last = len(segments) - 1
        return [
            (start, segments[i + 1][0] if i < last else None, *values)
            for i, (start, values) in enumerate(segments[index:], index)
        ]


def evolve(values: tuple[object, ...], record: Record) -> tuple[object, ...]:
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
