"""Anomalies as of T, known at K: what the method names as such (docs/metrics.md,
"Anomalies as of T (known at K)").

Lapsed criteria, stage-skipping moves and backdated entries need the facts and both
clocks of every event, which no read model holds: this report folds each deal's events
itself, once per run. The stale reasons are health's own rule (``health.stale_reasons``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from salesengine.application.results import DealEvents
from salesengine.domain.deal import Deal, DealEvent
from salesengine.domain.policy import FunnelPolicy
from salesengine.domain.state import DealState
from salesengine.domain.values import Status
from salesengine.projections.base import from_us, to_us
from salesengine.reports.health import (
    DAY_US,
    NEXT_STEP_OVERDUE,
    NO_NEXT_STEP,
    OVER_STAGE_LIMIT,
    stale_reasons,
)
from salesengine.reports.open_deals import Only

CRITERIA_LAPSED = "criteria_lapsed"
PROBABILITY_JUMP = "probability_jump"
BACKDATED = "backdated"
KINDS: tuple[str, ...] = (
    CRITERIA_LAPSED,
    PROBABILITY_JUMP,
    BACKDATED,
    OVER_STAGE_LIMIT,
    NO_NEXT_STEP,
    NEXT_STEP_OVERDUE,
)
DEFAULT_BACKDATED_DAYS = Decimal(7)

# Each event kind named as the command that makes it; an event class added later is
# named by its class name in snake case (event_kind).
_COMMAND_OF_EVENT: Mapping[str, str] = {
    "Opened": "open",
    "FactRecorded": "fact",
    "FactRetracted": "retract",
    "StageAdvanced": "advance",
    "StageRegressed": "regress",
    "VisitLogged": "visit",
    "NextStepSet": "next_step",
    "NextStepCompleted": "done",
    "AmountChanged": "amount",
    "ExpectedCloseChanged": "expected_close",
    "OwnerChanged": "owner",
    "Won": "won",
    "Lost": "lost",
    "Abandoned": "abandon",
    "Reopened": "reopen",
}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_DAYS = re.compile(r"\d+(?:\.\d+)?", re.ASCII)


def event_kind(event_class: type) -> str:
    name = event_class.__name__
    return _COMMAND_OF_EVENT.get(name) or _CAMEL.sub("_", name).lower()


def event_kinds() -> tuple[str, ...]:
    """The kinds of every event a deal records, in the order the domain declares them."""
    kinds = []
    for value in vars(Deal).values():
        # The events that change a deal: the opening, and those with their own evolve
        # (not the bases, nor the library's generic Created).
        if value is Deal.Opened or (
            isinstance(value, type)
            and issubclass(value, Deal.Event)
            and value.evolve is not Deal.Event.evolve
        ):
            kinds.append(event_kind(value))
    return tuple(dict.fromkeys(kinds))


@dataclass(frozen=True, slots=True)
class BackdatedAfter:
    """How late an event of each kind may be recorded before it counts as backdated."""

    days: Decimal = DEFAULT_BACKDATED_DAYS
    per_kind: Mapping[str, Decimal] = field(default_factory=dict)

    def threshold(self, kind: str) -> Decimal:
        return self.per_kind.get(kind, self.days)

    def as_dict(self) -> dict[str, Any]:
        return {"days": self.days, "per_kind": dict(self.per_kind)}


def parse_backdated_after(text: str) -> BackdatedAfter:
    """``DAYS`` or ``DAYS,KIND=DAYS,...`` (``--backdated-after``); ``ValueError`` names
    the part at fault."""
    known = event_kinds()
    days = DEFAULT_BACKDATED_DAYS
    per_kind: dict[str, Decimal] = {}
    for n, raw in enumerate(text.split(",")):
        part = raw.strip()
        kind, _, value = part.rpartition("=")
        kind = kind.strip()
        if not kind and "=" in part:
            raise ValueError(f"{part!r}: name the event kind before '='")
        if not _DAYS.fullmatch(value.strip()):
            raise ValueError(f"{part!r}: days are a number written with 0-9, like 7 or 0.5")
        amount = Decimal(value.strip())
        if not kind:
            if n:
                raise ValueError(f"{part!r}: only the first part is days without a kind")
            days = amount
        elif kind not in known:
            raise ValueError(f"{part!r}: no event kind {kind!r} (one of {', '.join(known)})")
        elif kind in per_kind:
            raise ValueError(f"{part!r}: {kind} is given twice")
        else:
            per_kind[kind] = amount
    return BackdatedAfter(days, per_kind)


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: str
    deal: str
    policy: str
    owner: str | None
    team: str | None
    position: str  # the deal's stage at T, or its outcome
    since: datetime
    evidence: Mapping[str, Any]
    order: int = 0  # within a deal and kind: the criterion's place, or the event's version

    def sort_key(self) -> tuple[int, datetime, str, int]:
        return (KINDS.index(self.kind), self.since, self.deal, self.order)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "deal": self.deal,
            "policy": self.policy,
            "owner": self.owner,
            "team": self.team,
            "position": self.position,
            "since": self.since,
            "evidence": dict(self.evidence),
        }


@dataclass(frozen=True, slots=True)
class Anomalies:
    as_of: datetime
    known_at: datetime | None
    policy: str | None
    only: Only
    backdated_after: BackdatedAfter
    rows: list[Anomaly]

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(a.kind for a in self.rows)
        return {kind: found[kind] for kind in KINDS}

    @property
    def backdated_events(self) -> dict[str, int]:
        found = Counter(a.evidence["event"] for a in self.rows if a.kind == BACKDATED)
        return dict(sorted(found.items()))


def anomalies(
    policies: Mapping[str, FunnelPolicy],
    deals: Iterable[DealEvents],
    *,
    as_of: datetime,
    known_at: datetime | None = None,
    policy: str | None = None,
    only: Only | None = None,
    backdated_after: BackdatedAfter | None = None,
) -> Anomalies:
    """The anomalies of ``deals`` as of T, known at K, of ``policy`` and ``only``'s owner
    and team; ``policies`` the policy files by name (a deal of another policy is left
    out: the command line refuses such a store before)."""
    only = only or Only()
    after = backdated_after or BackdatedAfter()
    rows: list[Anomaly] = []
    for deal in deals:
        spec = policies.get(deal.state.policy)
        if spec is None or (policy is not None and spec.name != policy):
            continue
        rows.extend(_of_deal(deal, spec, as_of, known_at, only, after))
    rows.sort(key=Anomaly.sort_key)
    return Anomalies(as_of, known_at, policy, only, after, rows)


@dataclass(slots=True)
class _Fold:
    """What one pass over a deal's events (as of T, known at K) keeps for the rules."""

    state: DealState = field(default_factory=DealState)
    # Per fact key: the last event that recorded or retracted it.
    facts: dict[str, DealEvent] = field(default_factory=dict)
    # Since when the deal has been open without an open next step (None: it has one).
    without_next_step: datetime | None = None
    moves: list[DealEvent] = field(default_factory=list)  # advances and wins
    backdated: list[tuple[DealEvent, str, Decimal]] = field(default_factory=list)


def _fold(
    deal: DealEvents, as_of: datetime, known_at: datetime | None, after: BackdatedAfter
) -> _Fold:
    f = _Fold()
    for e in deal.timeline:
        if e.effective_at > as_of or (known_at is not None and e.timestamp > known_at):
            continue
        before = f.state
        f.state = state = e.evolve(before)
        if isinstance(e, Deal.Opened):
            f.facts.update(dict.fromkeys(e.facts, e))
        elif isinstance(e, Deal.FactRecorded | Deal.FactRetracted):
            f.facts[e.name] = e
        elif isinstance(e, Deal.StageAdvanced | Deal.Won):
            f.moves.append(e)
        lacking = state.status is Status.OPEN and state.next_step is None
        lacked = before.status is Status.OPEN and before.next_step is None
        if lacking and not lacked:
            f.without_next_step = e.effective_at
        elif not lacking:
            f.without_next_step = None
        kind = event_kind(type(e))
        threshold = after.threshold(kind)
        if to_us(e.timestamp) - to_us(e.effective_at) > threshold * DAY_US:
            f.backdated.append((e, kind, threshold))
    return f


def _of_deal(
    deal: DealEvents,
    spec: FunnelPolicy,
    as_of: datetime,
    known_at: datetime | None,
    only: Only,
    after: BackdatedAfter,
) -> list[Anomaly]:
    f = _fold(deal, as_of, known_at, after)
    s = f.state
    if s.status is Status.NEW:
        return []  # not opened at T, as known at K
    if only.owner not in (None, s.owner) or only.team not in (None, s.team):
        return []

    def row(kind: str, since: datetime, evidence: dict[str, Any], order: int = 0) -> Anomaly:
        return Anomaly(kind, s.key, s.policy, s.owner, s.team, s.position, since, evidence, order)

    rows = [row(CRITERIA_LAPSED, *lapse) for lapse in _lapses(f, spec)]
    rows += [row(PROBABILITY_JUMP, *jump) for jump in _jumps(f.moves, spec)]
    for e, kind, threshold in f.backdated:
        delay = (e.timestamp - e.effective_at) / timedelta(days=1)
        evidence = _event(e) | {"event": kind, "delay_days": delay, "threshold_days": threshold}
        rows.append(row(BACKDATED, e.effective_at, evidence, e.originator_version))
    if s.status is Status.OPEN:
        rows += [row(kind, since, evidence) for kind, since, evidence in _stale(f, spec, as_of)]
    return rows


def _event(e: DealEvent) -> dict[str, Any]:
    return {
        "version": e.originator_version,
        "effective_at": e.effective_at,
        "recorded_at": e.timestamp,
        "actor": e.actor,
    }


def _lapses(f: _Fold, spec: FunnelPolicy) -> list[tuple[datetime, dict[str, Any], int]]:
    """The fact criteria of the deal's stage and the stages before it that lapsed."""
    s = f.state
    if s.status is not Status.OPEN or not spec.has_stage(s.stage):
        return []
    found: list[tuple[datetime, dict[str, Any], int]] = []
    seen: set[str] = set()
    for stage in spec.stages[: spec.index(s.stage) + 1]:
        for c in stage.criteria:
            if c.source != "fact" or c.key in seen:
                continue
            seen.add(c.key)
            e = f.facts.get(c.key)
            if s.fact_holds(c.key) or e is None:
                continue
            event: dict[str, Any]
            if isinstance(e, Deal.FactRetracted):
                event = {"event": "retract", "reason": e.reason}
            elif isinstance(e, Deal.FactRecorded):
                event = {"event": "fact", "value": e.value}
            else:  # the opening: the fact never held after it, so it lapsed nothing
                continue
            evidence = {
                "criterion": c.key,
                "description": c.description,
                "required_by": stage.key,
                **event,
                **_event(e),
            }
            found.append((e.effective_at, evidence, len(seen)))
    return found


def _jumps(
    moves: list[DealEvent], spec: FunnelPolicy
) -> list[tuple[datetime, dict[str, Any], int]]:
    """Advances past at least one stage, and wins from before the last stage."""
    found: list[tuple[datetime, dict[str, Any], int]] = []
    stages = spec.stage_keys
    for e in moves:
        if isinstance(e, Deal.StageAdvanced):
            start, end = e.from_stage, e.to_stage
            if not (spec.has_stage(start) and spec.has_stage(end)):
                continue
            skipped = stages[spec.index(start) + 1 : spec.index(end)]
            move = "advance"
        elif isinstance(e, Deal.Won):
            start, end = e.from_stage, Status.WON.value
            if not spec.has_stage(start):
                continue
            skipped = stages[spec.index(start) + 1 :]
            move = "won"
        else:  # pragma: no cover - _fold keeps only these
            continue
        if not skipped:
            continue
        low, high = spec.probability(start), spec.probability(end)
        evidence = {
            "move": move,
            "from": start,
            "to": end,
            "skipped": list(skipped),
            "from_probability": low,
            "to_probability": high,
            "jump": high - low,
            **_event(e),
        }
        found.append((e.effective_at, evidence, e.originator_version))
    return found


def _stale(
    f: _Fold, spec: FunnelPolicy, as_of: datetime
) -> list[tuple[str, datetime, dict[str, Any]]]:
    """Health's stale reasons of the open deal, each with since when it holds."""
    s = f.state
    assert s.stage_entered_at is not None
    step = s.next_step
    now = to_us(as_of)
    entered = to_us(s.stage_entered_at)
    due = None if step is None else to_us(step.due)
    found: list[tuple[str, datetime, dict[str, Any]]] = []
    for reason in stale_reasons(spec, s.stage, entered, due, now):
        evidence: dict[str, Any]
        if reason == OVER_STAGE_LIMIT:
            limit = spec.stage(s.stage).time_rules.max_days
            assert limit is not None
            evidence = {
                "stage": s.stage,
                "entered_at": s.stage_entered_at,
                "max_days": limit,
                "days_in_stage": (now - entered) / DAY_US,
            }
            found.append((reason, from_us(entered + limit * DAY_US), evidence))
        elif reason == NEXT_STEP_OVERDUE:
            assert step is not None
            evidence = {"stage": s.stage, "action": step.action, "due": step.due}
            found.append((reason, step.due, evidence))
        else:
            since = f.without_next_step or s.stage_entered_at
            found.append((reason, since, {"stage": s.stage}))
    return found


# Days in the evidence, given to two decimal places in JSON (as health's days are).
_ROUNDED = ("delay_days", "days_in_stage")


def anomalies_document(
    result: Anomalies, limit: int | None, earliest: datetime | None
) -> dict[str, Any]:
    """``salesengine anomalies --json``; ``limit``: at most that many rows per kind."""
    rows: list[dict[str, Any]] = []
    listed: Counter[str] = Counter()
    for a in result.rows:
        listed[a.kind] += 1
        if limit is None or listed[a.kind] <= limit:
            row = a.as_dict()
            row["evidence"] = {
                k: round(v, 2) if k in _ROUNDED else v for k, v in row["evidence"].items()
            }
            rows.append(row)
    return {
        "as_of": result.as_of,
        "known_at": result.known_at,
        "policy": result.policy,
        "owner": result.only.owner,
        "team": result.only.team,
        "backdated_after": result.backdated_after.as_dict(),
        "counts": result.counts,
        "backdated_events": result.backdated_events,
        "rows": rows,
        "earliest_recorded": earliest,
    }
