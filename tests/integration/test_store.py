"""The store contract: the same suite on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from salesengine.application.batch import WRITE_RETRIES
from salesengine.application.commands import Command
from salesengine.application.engine import SalesEngine
from salesengine.application.results import Outcome, Refused
from salesengine.domain.deal import Deal
from salesengine.domain.errors import (
    CommandIdReused,
    ConcurrencyConflict,
    CriteriaNotMet,
    DealAlreadyExists,
    StoreUnavailable,
    UnknownDeal,
)
from salesengine.domain.values import Stamp, Status, deal_id
from salesengine.policies.catalog import PolicyCatalog
from tests.support.clock import T0, Clock
from tests.support.commands import FIVE_LEVEL_OPENING, cmd
from tests.support.stores import StoreFactory


def opening(key: str = "D-1", **fields: object) -> Command:
    return cmd(
        cmd="open",
        deal=key,
        policy="five-level",
        at=T0,
        amount="1000",
        account="Huaxin Steel 华信钢铁",
        facts=FIVE_LEVEL_OPENING,
        **fields,
    )


def open_deal(engine: SalesEngine, key: str = "D-1", **fields: object) -> None:
    engine.execute(opening(key, **fields))


def test_a_deal_reloaded_by_another_writer_has_the_same_state(make_engine: StoreFactory) -> None:
    first = make_engine()
    open_deal(first)
    first.execute(cmd(cmd="amount", deal="D-1", amount="2500.50", at=T0 + timedelta(days=1)))
    first.execute(
        cmd(cmd="visit", deal="D-1", effective=True, attendees=["王总"], at=T0 + timedelta(days=2))
    )
    second = make_engine()
    assert second.load("D-1").state == first.load("D-1").state
    state = second.deal_state("D-1")
    assert state.amount == Decimal("2500.50")
    assert state.account == "Huaxin Steel 华信钢铁"
    assert state.effective_visits == 1


def test_a_refused_command_stores_nothing(engine: SalesEngine) -> None:
    open_deal(engine)
    with pytest.raises(CriteriaNotMet):
        engine.execute(cmd(cmd="advance", deal="D-1", to="contacted"))
    assert engine.load("D-1").version == 1
    assert engine.recorder.max_notification_id() == 1


def test_unknown_and_duplicate_deals_are_refused(engine: SalesEngine) -> None:
    with pytest.raises(UnknownDeal, match="unknown deal 'ghost'"):
        engine.execute(cmd(cmd="won", deal="ghost"))
    open_deal(engine)
    with pytest.raises(DealAlreadyExists):
        open_deal(engine)


def test_a_command_id_makes_a_command_idempotent_across_writers(
    make_engine: StoreFactory,
) -> None:
    first, second = make_engine(), make_engine()
    open_deal(first, id="open-1")
    visit = cmd(cmd="visit", id="v-1", deal="D-1", at=T0 + timedelta(hours=3))
    assert first.execute(visit).status == "applied"
    assert second.execute(visit).status == "duplicate"
    # The retry of the opening repeats it exactly, field for field.
    assert second.execute(opening(id="open-1")).status == "duplicate"
    assert second.load("D-1").version == 2


def test_a_command_id_reused_for_another_command_is_refused_and_writes_nothing(
    make_engine: StoreFactory,
) -> None:
    first, second = make_engine(), make_engine()
    open_deal(first)
    at = T0 + timedelta(hours=3)
    assert first.execute(cmd(cmd="visit", id="v-1", deal="D-1", at=at, note="CIO")).status == (
        "applied"
    )
    reused = cmd(cmd="visit", id="v-1", deal="D-1", at=at, note="CFO")
    with pytest.raises(CommandIdReused, match="command id 'v-1' was already applied to deal 'D-1'"):
        second.execute(reused)
    amount = cmd(cmd="amount", id="v-1", deal="D-1", amount="5", at=at)
    outcomes = list(second.execute_many([(0, amount, None), (1, reused, None)]))
    assert [getattr(o, "code", None) for _, o in outcomes] == ["id_reused", "id_reused"]
    deal = make_engine().load("D-1")
    assert deal.version == 2
    assert isinstance(deal.timeline[-1], Deal.VisitLogged)
    assert (deal.state.amount, deal.timeline[-1].note) == (Decimal("1000"), "CIO")


def test_an_id_applied_before_digests_were_kept_is_a_duplicate_whatever_it_says(
    make_engine: StoreFactory,
) -> None:
    engine = make_engine()
    # As a version 1 event was stored: a command id, no digest of the command.
    guard = engine.catalog.guard("five-level")
    old = Stamp(T0, T0, "rep", "old-1")
    engine.commit(
        Deal.open(id=deal_id("OLD"), key="OLD", guard=guard, stamp=old, facts=FIVE_LEVEL_OPENING)
    )
    again = cmd(cmd="open", id="old-1", deal="OLD", policy="five-level", at=T0, account="new")
    assert engine.execute(again).status == "duplicate"
    assert make_engine().load("OLD").version == 1


def test_a_stale_write_raises_a_conflict_and_loses_nothing(make_engine: StoreFactory) -> None:
    a, b = make_engine(), make_engine()
    open_deal(a)
    a.execute(cmd(cmd="visit", deal="D-1", at=T0 + timedelta(hours=1)), expected_version=1)
    with pytest.raises(ConcurrencyConflict, match="at version 2, not 1"):
        b.execute(cmd(cmd="visit", deal="D-1", at=T0 + timedelta(hours=2)), expected_version=1)
    assert b.load("D-1").version == 2


def test_two_writers_saving_the_same_version_conflict_at_the_store(
    make_engine: StoreFactory,
) -> None:
    a, b = make_engine(), make_engine()
    open_deal(a)
    deal_a, deal_b = a.load("D-1"), b.load("D-1")
    stamp = Stamp(T0 + timedelta(hours=2), a.clock(), "tester")
    assert isinstance(a.catalog, PolicyCatalog)  # the policy files
    deal_a.record_fact("budget", True, stamp, guards=a.catalog.guard_of_version)
    deal_b.record_fact("champion", True, stamp, guards=a.catalog.guard_of_version)
    a.commit(deal_a)
    with pytest.raises(ConcurrencyConflict, match="another writer changed 'D-1' first"):
        b.commit(deal_b)
    stored = b.load("D-1")
    assert stored.version == 2
    assert set(stored.state.facts) == {*FIVE_LEVEL_OPENING, "budget"}


def test_concurrent_writers_on_one_deal_all_land(make_engine: StoreFactory) -> None:
    open_deal(make_engine())
    writers, per_writer = 4, 15
    errors: list[BaseException] = []

    def write(n: int) -> None:
        engine = make_engine()
        try:
            for i in range(per_writer):
                engine.execute(
                    cmd(
                        cmd="visit",
                        deal="D-1",
                        id=f"w{n}-{i}",
                        at=T0 + timedelta(minutes=n * 100 + i),
                    )
                )
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    deal = make_engine().load("D-1")
    assert deal.version == 1 + writers * per_writer
    assert deal.state.visits == writers * per_writer


class RacingWriter:
    """Before the importer's first save, another writer visits D-1: the batch was
    decided on a deal that is no longer the stored one."""

    def __init__(
        self, importer: SalesEngine, other: SalesEngine, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.other, self.commit = other, importer.commit
        self.saves = 0
        monkeypatch.setattr(importer, "commit", self)

    def __call__(self, *deals: Deal) -> None:
        self.saves += 1
        if self.saves == 1:
            visit = cmd(cmd="visit", deal="D-1", id="other", at=T0 + timedelta(hours=9))
            self.other.execute(visit)
        self.commit(*deals)


def test_a_batch_that_meets_a_concurrent_writer_is_replayed_without_loss(
    make_engine: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_engine()
    open_deal(other)
    importer = make_engine()
    racing = RacingWriter(importer, other, monkeypatch)
    items = [
        (i, cmd(cmd="visit", deal="D-1", id=f"batch-{i}", at=T0 + timedelta(hours=i + 1)), None)
        for i in range(5)
    ]
    outcomes = list(importer.execute_many(items, batch_size=100))
    assert [o.status for _, o in outcomes if not isinstance(o, Refused)] == ["applied"] * 5
    assert racing.saves >= 2  # the first save met the other writer
    deal = other.load("D-1")
    assert deal.version == 7
    assert deal.command_ids >= {"other", *(f"batch-{i}" for i in range(5))}
    history = [e.command_id for e in other.history("D-1").events]
    assert history.count("other") == 1
    assert all(history.count(f"batch-{i}") == 1 for i in range(5))


def test_a_grouped_batch_replayed_after_a_concurrent_writer_still_applies_groups_whole(
    make_engine: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_engine()
    open_deal(other)
    importer = make_engine()
    racing = RacingWriter(importer, other, monkeypatch)
    at = T0 + timedelta(hours=10)
    items = [
        ((0, "row-1"), cmd(cmd="visit", deal="D-1", id="v", at=at), None),
        ((1, "row-2"), cmd(cmd="fact", deal="D-1", name="key_needs_confirmed", at=at), None),
        ((2, "row-2"), cmd(cmd="advance", deal="D-1", to="contacted", at=at), None),  # short
    ]
    outcomes = list(importer.execute_many(items, batch_size=100, group_of=lambda r: r[1]))
    codes = [getattr(o, "code", getattr(o, "status", "")) for _, o in outcomes]
    assert codes == ["applied", "group_refused", "criteria_not_met"]
    assert racing.saves >= 2  # the batch met the other writer and was decided again
    deal = other.load("D-1")
    assert "key_needs_confirmed" not in deal.state.facts  # its row was refused whole
    assert deal.command_ids >= {"other", "v"}


def test_one_batch_is_recorded_at_one_time_so_known_at_shows_all_of_it_or_none(
    make_engine: StoreFactory, clock: Clock
) -> None:
    ticking = make_engine(clock=lambda: clock.tick(microseconds=1))
    at = T0 + timedelta(hours=1)
    items = [
        (0, cmd(cmd="open", deal="R-1", policy="funnel-list", at=at), None),
        (1, cmd(cmd="visit", deal="R-1", effective=True, at=at), None),
        (2, cmd(cmd="open", deal="R-2", policy="funnel-list", at=at), None),
    ]
    list(ticking.execute_many(items, batch_size=100))
    recorded = {e.recorded_at for key in ("R-1", "R-2") for e in ticking.history(key).events}
    assert len(recorded) == 1  # the clock moved at every reading, the batch read it once
    (when,) = recorded
    before = ticking.history("R-1", known_at=when - timedelta(microseconds=1)).events
    assert before == [] and len(ticking.history("R-1", known_at=when).events) == 2


def codes(outcomes: Sequence[tuple[object, Outcome]]) -> list[str]:
    return [o.code if isinstance(o, Refused) else o.status for _, o in outcomes]


def test_a_group_refused_after_a_cached_deal_went_stale_is_decided_again_on_the_store(
    make_engine: StoreFactory,
) -> None:
    importer, other = make_engine(), make_engine()
    ready = {**FIVE_LEVEL_OPENING, "decision_makers_identified": True}
    ready |= {"key_needs_confirmed": True, "meetings_recorded": True}

    def items() -> Iterator[tuple[tuple[str, Any], None]]:
        for key in ("A", "B", "C", "D"):
            yield (key, cmd(cmd="open", deal=key, policy="five-level", facts=ready, at=T0)), None
        # The first batch (A, B, C) is saved by now; another writer closes A.
        other.execute(cmd(cmd="lost", deal="A", reason="gone", at=T0 + timedelta(hours=1)))
        at = T0 + timedelta(hours=2)
        yield ("g3", cmd(cmd="advance", deal="A", to="contacted", at=at)), None
        yield ("g4", cmd(cmd="fact", deal="A", name="needs_agreed", at=at)), None
        yield ("g4", cmd(cmd="advance", deal="A", to="committed", at=at)), None

    refs = ((ref, command, provenance) for (ref, command), provenance in items())
    outcomes = list(importer.execute_many(refs, batch_size=3, group_of=lambda ref: ref))
    assert codes(outcomes)[3:] == [
        "applied",
        "move_not_allowed",
        "group_refused",
        "move_not_allowed",
    ]
    assert importer.load("D").version == 1  # the batch's other rows still land
    assert importer.load("A").state.status == Status.LOST


def test_a_duplicate_in_a_refused_group_is_reported_with_its_group(
    make_engine: StoreFactory,
) -> None:
    engine = make_engine()
    open_deal(engine)
    known = cmd(cmd="fact", deal="D-1", name="needs_agreed", at=T0 + timedelta(hours=1), id="X")
    engine.execute(known)
    items = [
        (("row", 1), known, None),
        (
            ("row", 2),
            cmd(cmd="advance", deal="D-1", to="committed", at=T0 + timedelta(hours=2)),
            None,
        ),
    ]
    outcomes = list(engine.execute_many(items, group_of=lambda ref: ref[0]))
    assert codes(outcomes) == ["group_refused", "criteria_not_met"]


def test_a_batch_contended_past_its_retries_still_saves_each_group_whole(
    make_engine: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(time, "sleep", lambda *_: None)  # no backing off between retries
    engine = make_engine()
    open_deal(engine)
    real, calls = engine.commit, 0

    def contended(*deals: Deal) -> None:
        nonlocal calls
        calls += 1
        if calls <= WRITE_RETRIES + 1:
            raise ConcurrencyConflict("another writer")
        real(*deals)

    monkeypatch.setattr(engine, "commit", contended)
    at = T0 + timedelta(hours=1)
    items = [
        (("r1", 1), cmd(cmd="fact", deal="D-1", name="decision_makers_identified", at=at), None),
        (("r1", 2), cmd(cmd="advance", deal="D-1", to="qualified", at=at), None),
        (("r2", 1), cmd(cmd="visit", deal="D-1", at=at), None),
    ]
    outcomes = list(engine.execute_many(items, group_of=lambda ref: ref[0]))
    assert codes(outcomes) == ["group_refused", "criteria_not_met", "applied"]
    stored = engine.load("D-1")
    assert "decision_makers_identified" not in stored.state.facts
    assert stored.version == 2  # the opening and the visit


def test_history_gives_global_positions_and_both_clocks(
    make_engine: StoreFactory, clock: Clock
) -> None:
    engine = make_engine()
    open_deal(engine)
    open_deal(engine, key="D-2")
    recorded_first = clock.now
    clock.tick(days=1)
    engine.execute(cmd(cmd="amount", deal="D-1", amount="900", at=T0 + timedelta(hours=5)))
    history = engine.history("D-1")
    assert [(e.version, e.position) for e in history.events] == [(1, 1), (2, 3)]
    assert history.events[1].recorded_at == clock.now
    assert history.events[0].recorded_at == recorded_first
    then = engine.history("D-1", known_at=recorded_first)
    assert len(then.events) == 1 and then.state["amount"] == Decimal("1000")


def test_defaults_come_from_the_deal_as_it_stood_at_the_commands_effective_time(
    engine: SalesEngine,
) -> None:
    open_deal(engine, owner="Li Wei", currency="CNY")
    engine.execute(
        cmd(cmd="amount", deal="D-1", amount="200", currency="USD", at=T0 + timedelta(days=3))
    )
    engine.execute(cmd(cmd="owner", deal="D-1", owner="Zhang Min", at=T0 + timedelta(days=3)))
    # Backdated to before the switch to USD and to the new owner.
    engine.execute(cmd(cmd="amount", deal="D-1", amount="250", at=T0 + timedelta(days=2)))
    engine.execute(
        cmd(cmd="next_step", deal="D-1", action="call", due="2026-03-20", at=T0 + timedelta(days=1))
    )
    assert engine.deal_state("D-1", as_of=T0 + timedelta(days=2)).currency == "CNY"
    assert engine.deal_state("D-1", as_of=T0 + timedelta(days=2)).amount == Decimal("250")
    step = engine.deal_state("D-1", as_of=T0 + timedelta(days=1)).next_step
    assert step is not None and step.owner == "Li Wei"
    # In order, the defaults are the deal's current values.
    engine.execute(cmd(cmd="amount", deal="D-1", amount="300", at=T0 + timedelta(days=4)))
    assert engine.deal_state("D-1").currency == "USD"


def test_deal_keys_lists_every_opened_deal_in_recording_order(engine: SalesEngine) -> None:
    for n in range(5):
        open_deal(engine, key=f"D-{n}")
    assert list(engine.deal_keys(page=2)) == [f"D-{n}" for n in range(5)]


def test_the_sweep_falls_back_deals_without_a_live_next_step_once(
    make_engine: StoreFactory, clock: Clock
) -> None:
    engine = make_engine()
    facts = {"project_approved": True, "sales_plan": True, "decision_chain_path": True}
    engine.execute(cmd(cmd="open", deal="F-1", policy="funnel-list", at=T0, facts=facts))
    engine.execute(
        cmd(
            cmd="next_step",
            deal="F-1",
            action="demo",
            at=T0,
            due=(T0 + timedelta(days=5)).isoformat(),
        )
    )
    engine.execute(cmd(cmd="advance", deal="F-1", to="p25", at=T0 + timedelta(days=1)))
    sweep_at = T0 + timedelta(days=10)
    report = engine.sweep(sweep_at)
    assert [(f.deal, f.from_stage, f.to_stage, f.effective_at) for f in report.fell_back] == [
        ("F-1", "p25", "opportunity", T0 + timedelta(days=5))
    ]
    again = make_engine().sweep(sweep_at)
    assert again.fell_back == [] and again.unchanged == 1
    history = engine.history("F-1")
    last = history.events[-1]
    assert (last.type, last.data["reason"], last.actor) == (
        "StageRegressed",
        "no_next_step",
        "sweep",
    )
    assert engine.load("F-1").state.status is Status.OPEN


def test_a_bad_database_url_is_a_clear_error(tmp_path: object) -> None:
    from salesengine.bootstrap import build_engine

    with pytest.raises(StoreUnavailable, match="unsupported database URL"):
        build_engine("mysql://localhost/x")
    with pytest.raises(StoreUnavailable, match="does not exist"):
        build_engine("/nonexistent/dir/events.db")


def test_a_refusal_judged_on_a_stale_cached_deal_is_judged_again(
    make_engine: StoreFactory,
) -> None:
    importer, other = make_engine(), make_engine()
    evidence = ["decision_makers_identified", "key_needs_confirmed", "meetings_recorded"]

    def commands() -> Iterator[tuple[int, Command, None]]:
        yield (
            1,
            cmd(cmd="open", deal="D-1", policy="five-level", at=T0, facts=FIVE_LEVEL_OPENING),
            None,
        )
        yield 2, cmd(cmd="visit", deal="D-1", at=T0 + timedelta(hours=1)), None
        # Between batches another writer records the evidence the advance needs.
        for name in evidence:
            other.execute(cmd(cmd="fact", deal="D-1", name=name, at=T0 + timedelta(hours=2)))
        yield 3, cmd(cmd="advance", deal="D-1", to="contacted", at=T0 + timedelta(hours=3)), None

    outcomes = dict(importer.execute_many(commands(), batch_size=2))
    assert not isinstance(outcomes[3], Refused), outcomes[3]
    assert other.load("D-1").state.stage == "contacted"


def test_the_deal_records_the_version_of_the_policy_it_opened_under(
    engine: SalesEngine,
) -> None:
    open_deal(engine)
    state = engine.deal_state("D-1")
    assert state.policy_version == engine.catalog.get("five-level").fingerprint
    assert len(state.policy_version) == 16


def test_a_sweep_in_the_future_is_refused(engine: SalesEngine, clock: Clock) -> None:
    from salesengine.domain.errors import InvalidTime

    with pytest.raises(InvalidTime, match="in the future"):
        engine.sweep(clock.now + timedelta(hours=1))


def test_a_sweep_reports_deals_whose_policy_changed_instead_of_failing(
    store_url: str, clock: Clock, tmp_path: Path
) -> None:
    from salesengine.bootstrap import build_engine

    folder = tmp_path / "policies"
    folder.mkdir()
    source = (Path(__file__).resolve().parents[2] / "policies" / "funnel-list.toml").read_text(
        encoding="utf-8"
    )
    (folder / "mine.toml").write_text(
        source.replace('name = "funnel-list"', 'name = "mine"'), encoding="utf-8"
    )
    before = build_engine(store_url, policy_paths=[folder], clock=clock)
    facts = {"project_approved": True, "sales_plan": True, "decision_chain_path": True}
    before.execute(cmd(cmd="open", deal="M-1", policy="mine", at=T0, facts=facts))
    before.execute(
        cmd(
            cmd="next_step", deal="M-1", action="x", at=T0, due=(T0 + timedelta(days=2)).isoformat()
        )
    )
    before.execute(cmd(cmd="advance", deal="M-1", to="p25", at=T0 + timedelta(days=1)))
    before.execute(cmd(cmd="open", deal="F-1", policy="funnel-list", at=T0))
    before.close()
    (folder / "mine.toml").write_text(
        source.replace('name = "funnel-list"', 'name = "mine"').replace(
            'key = "p25"', 'key = "q25"'
        ),
        encoding="utf-8",
    )
    after = build_engine(store_url, policy_paths=[folder], clock=clock)
    report = after.sweep(T0 + timedelta(days=5))
    assert report.not_applicable == [("M-1", "stage 'p25' is no longer in policy 'mine'")]
    assert report.unchanged == 1
    after.close()
