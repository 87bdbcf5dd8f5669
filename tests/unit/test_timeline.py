"""A deal's timeline, folded event by event, equals its read-model functions computed
from scratch, whatever order the events arrive in (backdated ones included).

The timeline folds the events' records (``stored_events``), made here from the domain
events through their stored form; the oracles fold the domain events.

The oracles below compute each function from the whole event list at once, the plain
way: every interval, segment and funnel step re-derived from the sorted events.
"""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesengine.bootstrap import build_engine
from salesengine.domain.deal import DealEvent, fold
from salesengine.domain.state import DealState
from salesengine.projections.attribute_fold import ATTRIBUTE_TOPICS, attributes
from salesengine.projections.base import Envelope, Payload, Record, to_us
from salesengine.projections.funnel_points import differences
from salesengine.projections.stage_fold import VIA, entered
from salesengine.projections.stored_events import record_of_event
from salesengine.projections.timeline import (
    TIMELINE_TOPICS,
    DealTimeline,
    FunnelKey,
    Step,
    Timelines,
)
from tests.support.clock import Clock
from tests.support.commands import FIVE_LEVEL_OPENING
from tests.support.deal_events import opened_event
from tests.support.histories import RECORDING_START, apply_history, histories
from tests.support.histories import Step as Command


def in_timeline_order(events: list[DealEvent]) -> list[DealEvent]:
    return sorted(events, key=lambda e: (e.effective_at, e.originator_version))


def oracle_stage_rows(events: list[DealEvent]) -> list[Payload]:
    moves = [e for e in in_timeline_order(events) if type(e).__name__ in VIA]
    policy = opened_event(moves).policy
    rows: list[Payload] = []
    for i, event in enumerate(moves):
        stage, reason = entered(event)
        exited = to_us(moves[i + 1].effective_at) if i + 1 < len(moves) else None
        name = VIA[type(event).__name__]
        at = to_us(event.effective_at)
        rows.append((policy, stage, name, reason, event.originator_version, at, exited))
    return rows


def oracle_versions(events: list[DealEvent]) -> list[str]:
    """Per stage row: the policy version the domain's fold says the stage was entered under."""
    ordered = in_timeline_order(events)
    return [
        fold(ordered[: n + 1]).policy_version
        for n, event in enumerate(ordered)
        if type(event).__name__ in VIA
    ]


def oracle_attribute_rows(events: list[DealEvent]) -> list[Payload]:
    segments: list[tuple[int, Payload]] = []
    state = DealState()
    for event in in_timeline_order(events):
        if type(event).__name__ not in ATTRIBUTE_TOPICS:
            continue
        state = event.evolve(state)
        start = to_us(event.effective_at)
        values = attributes(state)
        if segments and segments[-1][0] == start:
            segments.pop()
        if segments and segments[-1][1] == values:
            continue
        segments.append((start, values))
    return [
        (start, segments[i + 1][0] if i + 1 < len(segments) else None, *values)
        for i, (start, values) in enumerate(segments)
    ]


def oracle_steps(events: list[DealEvent]) -> list[Step]:
    """At every instant where the stage or the attributes change: the key and amount."""
    stages = list(zip(oracle_stage_rows(events), oracle_versions(events), strict=True))
    segments = oracle_attribute_rows(events)
    steps: list[Step] = []
    starts = {cast(int, s[5]) for s, _ in stages} | {cast(int, a[0]) for a in segments}
    for at in sorted(starts):
        stage, version = next(
            (s, v)
            for s, v in reversed(stages)
            if cast(int, s[5]) <= at and (s[6] is None or cast(int, s[6]) > at)
        )
        attrs = next(a for a in reversed(segments) if cast(int, a[0]) <= at)
        key = cast(FunnelKey, (stage[0], stage[1], attrs[9], version))
        amount = cast("int | None", attrs[8]) or 0
        if steps and steps[-1][1:] == (key, amount):
            continue
        steps.append((at, key, amount))
    return steps


def deal_histories(commands: list[Command]) -> list[list[DealEvent]]:
    """The deals the commands made, each as its events in version (recording) order."""
    clock = Clock(RECORDING_START)
    engine = build_engine("sqlite:///:memory:", clock=clock, actor="prop")
    try:
        apply_history(engine, clock, commands)
        deals = [engine.load(key) for key in engine.deal_keys()]
        return [sorted(d.timeline, key=lambda e: e.originator_version) for d in deals]
    finally:
        engine.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands=histories(max_deals=3), data=st.data())
def test_a_timeline_folded_event_by_event_equals_the_functions_from_scratch(
    commands: list[Command], data: st.DataObject
) -> None:
    for history in deal_histories(commands):
        records = [record_of_event(e) for e in history]

        def earlier(_: str, version: int, records: list[Record] = records) -> list[Record]:
            return [r for r in records if r.version < version]

        timelines = Timelines(earlier)
        relevant = [e for e in history if type(e).__name__ in TIMELINE_TOPICS]
        stages: list[Payload] = []
        attribute_rows: list[Payload] = []
        steps: list[Step] = []
        for n, event in enumerate(history, start=1):
            if type(event).__name__ not in TIMELINE_TOPICS:
                continue
            if data.draw(st.booleans()):
                timelines.clear()  # evicted: the next event folds the deal from the store
            timeline = timelines.push(Envelope(n, records[n - 1], event.originator_id.hex))
            known = [e for e in relevant if e.originator_version <= n]
            # Given the events so far, in whatever order they came:
            assert timeline.stages.rows == oracle_stage_rows(known)
            assert timeline.stages.versions == oracle_versions(known)
            assert timeline.attributes.rows_from(0) == oracle_attribute_rows(known)
            assert timeline.steps == oracle_steps(known)
            # Rows before each "changed from" index are those from before the event.
            assert timeline.stages.rows[: timeline.stages_from] == stages[: timeline.stages_from]
            changed = timeline.attributes_from
            assert timeline.attributes.rows_from(0)[:changed] == attribute_rows[:changed]
            # The tail difference is the whole difference.
            tail = differences(timeline.old_steps, timeline.new_steps())
            assert tail == differences(steps, timeline.steps)
            stages = list(timeline.stages.rows)
            attribute_rows = timeline.attributes.rows_from(0)
            steps = list(timeline.steps)
        # Folding the same events again (already in) changes nothing.
        for n, event in enumerate(relevant, start=1):
            record = record_of_event(event)
            timeline = timelines.push(Envelope(n, record, event.originator_id.hex))
            assert differences(timeline.old_steps, timeline.new_steps()) == []
            assert timeline.stages.rows[timeline.stages_from :] == stages[timeline.stages_from :]
        assert (timeline.stages.rows, timeline.attributes.rows_from(0)) == (stages, attribute_rows)


def test_events_at_one_instant_leave_one_step_there_the_last_event_holding() -> None:
    # Given a deal whose amount changes twice, and back, at the instant it opened
    at = RECORDING_START - timedelta(days=3)
    opening = {"amount": "100", "facts": FIVE_LEVEL_OPENING}
    commands = [
        Command(1, {"cmd": "open", "deal": "d", "policy": "five-level", "at": at, **opening}),
        Command(1, {"cmd": "amount", "deal": "d", "at": at, "amount": "300"}),
        Command(1, {"cmd": "amount", "deal": "d", "at": at, "amount": "100"}),
        Command(1, {"cmd": "lost", "deal": "d", "at": at, "reason": "price"}),
    ]
    (history,) = deal_histories(commands)
    assert len(history) == 4, "every command was accepted"
    # When its events are folded one by one
    timeline = DealTimeline([], 1)
    for event in history:
        record = record_of_event(event)
        assert timeline.follows(record)
        timeline.push(record)
        # Then the funnel has one step at that instant: the latest key and amount
        assert len(timeline.steps) == 1
        assert timeline.steps == oracle_steps(history[: event.originator_version])
    version = opened_event(history).policy_version
    assert timeline.steps == [(to_us(at), ("five-level", "lost", "CNY", version), 1_000_000)]
    assert timeline.stages.rows == oracle_stage_rows(history)
    assert timeline.attributes.rows_from(0) == oracle_attribute_rows(history)
