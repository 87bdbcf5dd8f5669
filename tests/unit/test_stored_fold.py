"""The read models' fold over stored events (``stored_events`` records, ``stored_fold``)
equals the domain's fold over the same events decoded (``StageFold`` and ``entered``,
``AttributeFold`` over ``DealState.evolve``), row for row, after every event.

The events are a real store's, as stored: personal fields sealed under their keys,
stage changes sometimes aged into their form from before they kept a policy version,
for deals under every bundled policy that advance, regress, close, reopen, change
hands and amounts, and are backdated.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesengine.bootstrap import build_engine
from salesengine.domain.deal import DealEvent
from salesengine.projections.attribute_fold import ATTRIBUTE_TOPICS, AttributeFold
from salesengine.projections.base import Record, to_us
from salesengine.projections.stage_fold import VIA, StageFold, entered
from salesengine.projections.stored_events import kind_of, record_of, record_of_event
from salesengine.projections.stored_fold import RecordAttributeFold, RecordStageFold
from salesengine.store.codec import OrjsonMapper
from salesengine.store.notification_log import deal_event
from tests.support.clock import Clock
from tests.support.histories import (
    CATALOG,
    RECORDING_START,
    Step,
    apply_history,
    several_deals,
    with_edits,
)
from tests.support.timelines import any_histories

BUNDLED = {name: CATALOG.get(name) for name in CATALOG.names()}
MOVES = frozenset({"StageAdvanced", "StageRegressed", "Won", "Lost", "Abandoned", "Reopened"})
KINDS = (
    "advance", "advance", "advance", "regress", "won", "lost", "abandon", "reopen", "reopen",
    "owner", "amount", "expected_close", "next_step", "done", "visit", "fact",
)  # fmt: skip


def amounts() -> st.SearchStrategy[str]:
    """Amounts as the command language takes them: up to four decimals."""
    return st.integers(0, 20_000_000_000).map(lambda n: f"{n // 10_000}.{n % 10_000:04d}")


def maybe(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), values)


@st.composite
def deal_commands(draw: st.DrawFn, key: str, start: datetime) -> list[dict[str, Any]]:
    """A deal under any bundled policy, holding every fact it asks for so its moves
    mostly succeed; optional fields given or left out."""
    policy = draw(st.sampled_from(sorted(BUNDLED)))
    spec = BUNDLED[policy]
    stages = list(spec.stage_keys)
    facts = sorted({c.key for s in spec.stages for c in s.criteria if c.source == "fact"})
    opening: dict[str, Any] = {"cmd": "open", "deal": key, "policy": policy, "at": start}
    opening["facts"] = dict.fromkeys(facts, True)
    for name, values in (
        ("account", st.sampled_from(["acme", "globex"])),
        ("owner", st.sampled_from(["Li Wei", "anna"])),
        ("team", st.sampled_from(["east", "north"])),
        ("region", st.sampled_from(["emea", "apac"])),
        ("amount", amounts()),
        ("expected_close", st.integers(0, 300).map(lambda d: (start + timedelta(days=d)).date())),
    ):
        value = draw(maybe(values))
        if value is not None:
            opening[name] = value.isoformat() if name == "expected_close" else value
    commands = [opening]
    at = start
    for _ in range(draw(st.integers(0, 12))):
        at += timedelta(hours=draw(st.sampled_from([-48, -1, 0, 0, 1, 30, 200])))
        commands.extend(draw(deal_command(key, at, stages, facts)))
    return commands


@st.composite
def deal_command(
    draw: st.DrawFn, key: str, at: datetime, stages: list[str], facts: list[str]
) -> list[dict[str, Any]]:
    """One command of a deal's (an advance with the next step it may ask for)."""
    kind = draw(st.sampled_from(KINDS))
    c: dict[str, Any] = {"cmd": kind, "deal": key, "at": at}
    due = (at + timedelta(days=draw(st.integers(-3, 60)))).isoformat()
    if kind in ("advance", "regress", "reopen"):
        c["to"] = draw(st.sampled_from(stages))
    if kind == "advance":
        # Stages that ask for a live next step get one at the same instant.
        return [{"cmd": "next_step", "deal": key, "at": at, "action": "a", "due": due}, c]
    if kind == "regress":
        c["reason"] = "re-qualify"
    elif kind == "reopen":
        if draw(st.booleans()):
            c["reason"] = "came back"
        if draw(st.booleans()):
            c["next_step"] = {"action": "call", "due": due}
    elif kind in ("lost", "abandon"):
        if draw(st.booleans()):
            c["reason"] = "price"
    elif kind == "owner":
        c["owner"] = draw(st.sampled_from(["Li Wei", "王芳", "anna"]))
        for name in ("team", "region"):
            value = draw(maybe(st.sampled_from(["east", "west"])))
            if value is not None:
                c[name] = value
    elif kind == "amount":
        c["amount"] = draw(amounts())
    elif kind == "expected_close":
        day = draw(maybe(st.integers(-10, 300)))
        c["expected_close"] = None if day is None else (at + timedelta(days=day)).date().isoformat()
    elif kind == "next_step":
        c["action"] = "call the CFO"
        c["due"] = due
    elif kind == "visit":
        c["effective"] = draw(st.booleans())
        c["attendees"] = ["Ms Example"]
        c["note"] = "met the buyer"
    elif kind == "fact":
        if not facts:
            return []
        c["name"] = draw(st.sampled_from(facts))
    return [c]


@st.composite
def bundled_histories(draw: st.DrawFn, max_deals: int = 3) -> list[Step]:
    return several_deals(draw, deal_commands, max_deals, 60)


def aged(state: bytes) -> bytes:
    """A stage change as stored before stage changes kept their policy version."""
    fields = orjson.loads(state)
    fields.pop("policy_version", None)
    fields["class_version"] = 2
    return orjson.dumps(fields)


def stored_deals(steps: list[Step], data: st.DataObject) -> list[list[tuple[Record, DealEvent]]]:
    """Each deal's events as stored, as records and as domain events decoded by the
    store's own mapper (personal fields left sealed, as the read models read them)."""
    clock = Clock(RECORDING_START)
    engine = build_engine("sqlite:///:memory:", clock=clock, actor="prop")
    try:
        apply_history(engine, clock, steps)
        mapper = engine.mapper
        assert isinstance(mapper, OrjsonMapper)
        deals = []
        for key in engine.deal_keys():
            deal_id = engine.load(key).id
            pairs = []
            for s in engine.recorder.select_events(deal_id):
                kind = kind_of(s.topic)
                state = s.state
                if kind in MOVES and data.draw(st.booleans()):
                    state = aged(state)
                event = deal_event(
                    mapper.decode(s.topic, deal_id, s.originator_version, state, sealed=True)
                )
                record = record_of(kind, s.originator_version, orjson.loads(state))
                pairs.append((record, event))
            deals.append(pairs)
        return deals
    finally:
        engine.close()


def check_fold(pairs: list[tuple[Record, DealEvent]]) -> None:
    """Both folds over the deal's events in timeline order agree after every event."""
    for record, event in pairs:
        assert record.kind == type(event).__name__
        assert record.version == event.originator_version
        assert record.effective_us == to_us(event.effective_at)
        assert record.recorded_us == to_us(event.timestamp)
    by_records = sorted(pairs, key=lambda p: (p[0].effective_us, p[0].version))
    by_events = sorted(pairs, key=lambda p: (p[1].effective_at, p[1].originator_version))
    assert by_records == by_events, "the same timeline order"
    stages, record_stages = StageFold(), RecordStageFold()
    attributes, record_attributes = AttributeFold(), RecordAttributeFold()
    for record, event in by_events:
        if record.kind in VIA:
            assert record.stage == entered(event)[0]
            assert record_stages.push(record) == stages.push(event)
            assert record_stages.rows == stages.rows
            assert record_stages.versions == stages.versions
        if record.kind in ATTRIBUTE_TOPICS:
            assert record_attributes.push(record) == attributes.push(event)
            assert record_attributes.segments == attributes.segments
            assert record_attributes.rows_from(0) == attributes.rows_from(0)
        if record.kind == "VisitLogged":
            assert record.data == (event.actor, event.kind, event.effective)  # type: ignore[union-attr]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=bundled_histories(), data=st.data())
def test_the_stored_fold_equals_the_domain_fold_under_every_bundled_policy(
    steps: list[Step], data: st.DataObject
) -> None:
    deals = stored_deals(steps, data)
    for pairs in deals:
        check_fold(pairs)
    assert deals, "every history opens a deal"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=with_edits(any_histories()), data=st.data())
def test_the_stored_fold_equals_the_domain_fold_for_the_shared_histories(
    steps: list[Step], data: st.DataObject
) -> None:
    for pairs in stored_deals(steps, data):
        check_fold(pairs)


def test_a_domain_events_record_is_that_of_its_stored_form() -> None:
    # Given a deal's events, as the engine made them
    clock = Clock(RECORDING_START)
    engine = build_engine("sqlite:///:memory:", clock=clock, actor="prop")
    try:
        at = RECORDING_START - timedelta(days=2)
        steps = [
            Step(1, {"cmd": "open", "deal": "d", "policy": "maven", "at": at, "amount": "12.3456"}),
            Step(1, {"cmd": "amount", "deal": "d", "at": at, "amount": "0.0001"}),
            Step(1, {"cmd": "lost", "deal": "d", "at": at, "reason": "price"}),
        ]
        apply_history(engine, clock, steps)
        deal = engine.load("d")
        stored = engine.recorder.select_events(deal.id)
        # Then each one's record, through the encoder, is the one read from the store
        assert len(stored) == len(deal.timeline) == 3
        by_version = sorted(deal.timeline, key=lambda e: e.originator_version)
        for s, event in zip(stored, by_version, strict=True):
            assert record_of_event(event) == record_of(
                kind_of(s.topic), s.originator_version, orjson.loads(s.state)
            )
        opened, changed, lost = map(record_of_event, by_version)
        assert (opened.data[6], changed.data[0], lost.stage, lost.reason) == (
            123456,
            1,
            "lost",
            "price",
        )
    finally:
        engine.close()
