"""A rebuild folded by several processes writes the rows of one folded in a single one."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from salesengine.cli.parallel_rebuild import FoldInProcesses
from salesengine.cli.worker_engines import EngineSpec
from salesengine.domain.errors import SalesEngineError, StoreUnavailable
from salesengine.projections import visits
from salesengine.projections.funnel_points import FunnelPoints
from salesengine.projections.parallel_fold import Folded, FoldShare, Share, ShareWriter, part_of
from salesengine.projections.registry import NAMES
from salesengine.projections.runner import ProjectionRunner
from salesengine.projections.visits import Visits
from tests.integration.test_projections import positions, rows, some_history, store
from tests.support.clock import T0
from tests.support.commands import cmd

__all__ = ["store"]  # the fixture, shared with the runner's own tests


def history(store: Any, deals: int = 24) -> None:
    """Deals with backdated amounts, then late events on deals long out of any cache."""
    engine, clock, _, _ = store
    some_history(engine, clock, deals=deals)
    for n in range(0, deals, 3):
        at = T0 + timedelta(days=n % 17, minutes=45)
        engine.execute(cmd(deal=f"D{n}", cmd="amount", amount=str(7 * n + 1), at=at))
        engine.execute(cmd(deal=f"D{n}", cmd="owner", owner="rep9", at=at + timedelta(days=3)))


def rebuilt_in_one_process(store: Any) -> dict[str, list[tuple[Any, ...]]]:
    """``history``'s read models, rebuilt by one process: the rows to compare with."""
    engine, _, sql, _ = store
    history(store)
    ProjectionRunner(engine, sql).rebuild()
    return rows(sql)


def head(store: Any) -> int:
    return int(store[0].recorder.max_notification_id())


@pytest.mark.parametrize("workers", [2, 3])
def test_the_rows_equal_those_of_a_rebuild_folded_in_one_process(
    store: Any, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _, sql, url = store
    history(store)
    # Tiny blocks: the funnel's blocks are sealed across windows and folds.
    monkeypatch.setattr(FunnelPoints, "block_size", 7)
    ProjectionRunner(engine, sql, window=1000).rebuild()
    alone = rows(sql)
    assert sum(r[3] is not None for r in alone["deal_attributes"]) >= 8
    assert len(alone["funnel_blocks"]) > 3

    # Small windows and caches (two windows' deals per fold): the folds evict deals and
    # read their rows back; test_folds_that_evict_all_the_time_... keeps one window's.
    runner = ProjectionRunner(engine, sql, window=5)
    runner.timelines.capacity = 1
    report = runner.rebuild(fold=FoldInProcesses(EngineSpec(url), workers))
    assert rows(sql) == alone
    assert report.read == head(store)
    assert positions(sql) == dict.fromkeys(NAMES, head(store))
    assert report.writing > 0 and report.fold_peak_rss > 10 * 1024 * 1024


def test_every_fold_has_a_share_of_the_deals(store: Any) -> None:
    """The partition spreads deals over the processes (a check that the test above does
    exercise several folds, not one doing all the work)."""
    engine, clock, _, _ = store
    some_history(engine, clock, deals=24)
    ids = {e.originator_id.hex for e in engine.recorder.select_notifications(1, 10_000)}
    assert {part_of(i, 3) for i in ids} == {0, 1, 2}


def test_one_read_model_rebuilt_by_processes_leaves_the_others_alone(store: Any) -> None:
    engine, _, sql, url = store
    history(store)
    ProjectionRunner(engine, sql).catch_up()
    before = rows(sql)
    ProjectionRunner(engine, sql, window=4).rebuild(
        ["funnel_points"], fold=FoldInProcesses(EngineSpec(url), 2)
    )
    assert rows(sql) == before
    assert positions(sql) == dict.fromkeys(NAMES, head(store))


@dataclass(frozen=True, slots=True)
class FailingShare(FoldShare):
    """A fold that stops with an error in its third window, in process 1."""

    def __call__(self, engine: Any, part: int, parts: int, *args: Any) -> Folded:
        if part != 1:
            return FoldShare.__call__(self, engine, part, parts, *args)
        calls = 0
        meet = args[1]

        def failing(share: Share) -> Any:
            nonlocal calls
            calls += 1
            if calls == 3:
                raise ValueError("the fold broke")
            return meet(share)

        return FoldShare.__call__(self, engine, part, parts, args[0], failing, *args[2:])


@dataclass(frozen=True, slots=True)
class FailingFold(FoldInProcesses):
    def job(self, names: tuple[str, ...], head: int, window: int, capacity: int) -> FoldShare:
        return FailingShare(names, head, window, capacity, self.engines.db)


def test_a_fold_that_fails_stops_the_rebuild_at_a_whole_window_and_a_catch_up_finishes_it(
    store: Any,
) -> None:
    engine, _, sql, url = store
    alone = rebuilt_in_one_process(store)
    runner = ProjectionRunner(engine, sql, window=10)
    with pytest.raises(SalesEngineError, match="rebuild worker 1: ValueError: the fold broke"):
        runner.rebuild(fold=FailingFold(EngineSpec(url), 2))
    # The first two windows were written and tracked, nothing of the third.
    assert positions(sql) == dict.fromkeys(NAMES, 20)
    ProjectionRunner(engine, sql).catch_up()
    assert rows(sql) == alone


@dataclass(frozen=True, slots=True)
class SmallFolds(FoldInProcesses):
    """Folds that keep as few deals as the eviction allows: one window's worth."""

    def job(
        self,
        names: tuple[str, ...],
        head: int,
        window: int,
        capacity: int,  # noqa: ARG002 - replaced by one window's worth
    ) -> FoldShare:
        return FoldShare(names, head, window, window, self.engines.db)


def test_folds_that_evict_all_the_time_behind_a_slow_writer_give_the_same_rows(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _, sql, url = store
    alone = rebuilt_in_one_process(store)
    run = ShareWriter._run

    def slowly(self: ShareWriter, shares: list[Share]) -> None:
        time.sleep(0.05)  # the folds run ahead while each window is being written
        run(self, shares)

    monkeypatch.setattr(ShareWriter, "_run", slowly)
    ProjectionRunner(engine, sql, window=4).rebuild(fold=SmallFolds(EngineSpec(url), 2))
    assert rows(sql) == alone


def test_a_writer_that_fails_stops_the_rebuild_at_a_whole_window(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _, sql, url = store
    alone = rebuilt_in_one_process(store)
    calls = 0
    write = Visits.write

    def failing(self: Visits, conn: Any, taken: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OperationalError("INSERT", None, Exception("disk full"))
        write(self, conn, taken)

    monkeypatch.setattr(Visits, "write", failing)
    with pytest.raises(StoreUnavailable, match="cannot update the read models: .*disk full"):
        ProjectionRunner(engine, sql, window=10).rebuild(fold=FoldInProcesses(EngineSpec(url), 2))
    assert positions(sql) == dict.fromkeys(NAMES, 20)
    monkeypatch.setattr(Visits, "write", write)
    ProjectionRunner(engine, sql).catch_up()
    assert rows(sql) == alone


def test_another_runner_moving_on_meanwhile_hands_the_rest_to_a_catch_up(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _, sql, url = store
    alone = rebuilt_in_one_process(store)
    calls = 0
    run = ShareWriter._run

    def overtaken(self: ShareWriter, shares: list[Share]) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # another runner catches everything up before this window
            ProjectionRunner(engine, sql).catch_up()
        run(self, shares)

    monkeypatch.setattr(ShareWriter, "_run", overtaken)
    report = ProjectionRunner(engine, sql, window=10).rebuild(
        fold=FoldInProcesses(EngineSpec(url), 2)
    )
    assert calls == 2, "the folds stopped once the writer found the positions moved"
    assert rows(sql) == alone
    assert positions(sql) == dict.fromkeys(NAMES, head(store))
    assert report.read == 10  # the rest was the other runner's


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
def test_a_copy_that_fails_on_postgresql_is_a_store_error_and_writes_nothing(
    store: Any,
) -> None:
    engine, _, sql, _ = store
    history(store, deals=3)
    runner = ProjectionRunner(engine, sql)
    runner.catch_up()
    engine.execute(cmd(deal="D1", cmd="visit", effective=True, at=T0 + timedelta(days=2)))
    (visit,) = engine.recorder.select_notifications(head(store), 1)
    # The row the next catch-up would COPY in already stands in the table.
    clash = {
        "deal_id": visit.originator_id.hex,
        "version": visit.originator_version,
        "actor": "someone",
        "kind": "meeting",
        "effective": True,
        "effective_at": 0,
        "recorded_at": 0,
        "position": 0,
    }
    with sql.begin() as conn:
        conn.execute(visits.table.insert().values(clash))
    before = rows(sql), positions(sql)
    with pytest.raises(StoreUnavailable, match="cannot update the read models: .*duplicate key"):
        runner.catch_up()
    assert (rows(sql), positions(sql)) == before
