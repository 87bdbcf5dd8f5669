"""The projection machinery: incremental runs, rebuilds, crashes and concurrent runners."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, select

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.projections.base import metadata
from salesengine.projections.registry import NAMES
from salesengine.projections.runner import ProjectionRunner, tracking
from salesengine.store.codec import OrjsonMapper
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.clock import T0, Clock
from tests.support.commands import cmd

VIEW_TABLES = (
    "stage_intervals",
    "deal_attributes",
    "funnel_keys",
    "funnel_points",
    "funnel_blocks",
    "visits",
)


def rows(sql: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read model, in a stable order."""
    found = {}
    with sql.connect() as conn:
        for name in VIEW_TABLES:
            table = metadata.tables[name]
            found[name] = sorted(tuple(r) for r in conn.execute(select(table)))
    return found


def positions(sql: Engine) -> dict[str, int]:
    with sql.connect() as conn:
        return {r.name: r.position for r in conn.execute(select(tracking))}


def some_history(engine: SalesEngine, clock: Clock, deals: int, start: int = 0) -> None:
    """Deals that open, gather facts, advance, get backdated amounts and close."""
    for n in range(start, start + deals):
        key = f"D{n}"
        at = T0 + timedelta(days=n % 17)
        engine.execute(
            cmd(
                deal=key,
                cmd="open",
                policy="seven-stage",
                at=at,
                owner=f"rep{n % 3}",
                amount=str(1000 * (n + 1)),
                facts={"fits_target_profile": True},
            )
        )
        clock.tick(minutes=1)
        for i, name in enumerate(("customer_basics", "it_landscape", "need_and_budget")):
            engine.execute(cmd(deal=key, cmd="fact", name=name, at=at + timedelta(hours=i + 1)))
        clock.tick(minutes=1)
        engine.execute(cmd(deal=key, cmd="visit", effective=True, at=at + timedelta(hours=5)))
        # A backdated amount: effective before the facts, recorded after them.
        engine.execute(
            cmd(deal=key, cmd="amount", amount=str(500 * n), at=at + timedelta(minutes=30))
        )
        if n % 4 == 0:
            engine.execute(cmd(deal=key, cmd="lost", reason="price", at=at + timedelta(days=2)))
        clock.tick(minutes=1)


@pytest.fixture
def store(store_url: str) -> Any:
    clock = Clock(T0 + timedelta(days=60))
    engine = build_engine(store_url, clock=clock, actor="tester")
    sql = sql_engine(store_settings(store_url))
    yield engine, clock, sql, store_url
    sql.dispose()
    engine.close()


def test_catching_up_in_steps_gives_the_rows_of_a_rebuild_from_zero(store: Any) -> None:
    engine, clock, sql, _ = store
    runner = ProjectionRunner(engine, sql, window=13)
    for step in range(3):
        some_history(engine, clock, deals=4, start=step * 4)
        runner.catch_up()
    engine.execute(cmd(deal="D1", cmd="amount", amount="77", at=T0 + timedelta(days=1, minutes=5)))
    runner.catch_up()
    incremental = rows(sql)
    assert incremental["stage_intervals"], "the history produced intervals"
    assert any(r[3] is not None for r in incremental["deal_attributes"]), (
        "the backdated amounts closed superseded attribute rows"
    )
    report = ProjectionRunner(engine, sql, window=1000).rebuild()
    assert report.read == engine.recorder.max_notification_id()
    assert rows(sql) == incremental
    head = engine.recorder.max_notification_id()
    assert positions(sql) == dict.fromkeys(NAMES, head)


def test_deals_evicted_between_batches_are_reloaded_to_the_same_rows(store: Any) -> None:
    engine, clock, sql, _ = store
    some_history(engine, clock, deals=6)
    # Later events on deals long out of a one-deal cache: backdated and in order.
    for n in range(6):
        at = T0 + timedelta(days=n % 17, minutes=45)
        engine.execute(cmd(deal=f"D{n}", cmd="amount", amount=str(7 * n + 1), at=at))
        engine.execute(cmd(deal=f"D{n}", cmd="owner", owner="rep9", at=at + timedelta(days=3)))
    runner = ProjectionRunner(engine, sql, window=3)
    runner.timelines.capacity = 1
    runner.catch_up()
    evicting = rows(sql)
    assert sum(r[3] is not None for r in evicting["deal_attributes"]) >= 6, (
        "the late events closed rows of deals that had been evicted"
    )
    ProjectionRunner(engine, sql, window=1000).rebuild()
    assert rows(sql) == evicting


def test_a_rebuild_builds_no_domain_event_and_gives_the_same_rows(
    store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, clock, sql, _ = store
    some_history(engine, clock, deals=6)
    ProjectionRunner(engine, sql, window=5).catch_up()
    expected = rows(sql)
    assert expected["visits"] and expected["funnel_points"], "the history reached every model"

    def refused(*_: object, **__: object) -> None:
        raise AssertionError("a domain event was built")

    # Backdated amounts, and deals evicted between batches, included.
    monkeypatch.setattr(OrjsonMapper, "decode", refused)
    monkeypatch.setattr(OrjsonMapper, "to_domain_event", refused)
    runner = ProjectionRunner(engine, sql, window=4)
    runner.timelines.capacity = 1
    runner.rebuild()
    assert rows(sql) == expected


def test_a_runner_with_nothing_new_reads_nothing_and_changes_nothing(store: Any) -> None:
    engine, clock, sql, _ = store
    some_history(engine, clock, deals=3)
    runner = ProjectionRunner(engine, sql)
    first = runner.catch_up()
    before = rows(sql)
    again = ProjectionRunner(engine, sql).catch_up()
    assert first.read > 0
    assert again.read == 0
    assert rows(sql) == before


def test_rebuilding_one_read_model_leaves_the_others_alone(store: Any) -> None:
    engine, clock, sql, _ = store
    some_history(engine, clock, deals=3)
    ProjectionRunner(engine, sql).catch_up()
    before = rows(sql)
    with sql.begin() as conn:
        conn.execute(metadata.tables["visits"].delete())  # a damaged view
    ProjectionRunner(engine, sql).rebuild(["visits"])
    assert rows(sql) == before


def indexes(sql: Engine) -> set[str]:
    """The read models' declared indexes present in the database."""
    found = inspect(sql)
    present = {str(i["name"]) for t in VIEW_TABLES for i in found.get_indexes(t)}
    return present & {str(i.name) for t in VIEW_TABLES for i in metadata.tables[t].indexes}


def test_a_replay_builds_the_report_indexes_at_its_end_and_a_stopped_one_gets_them_back(
    store: Any,
) -> None:
    engine, clock, sql, _ = store
    some_history(engine, clock, deals=6)
    wanted = {str(i.name) for t in VIEW_TABLES for i in metadata.tables[t].indexes}
    ProjectionRunner(engine, sql).rebuild()
    assert indexes(sql) == wanted
    whole = rows(sql)

    class Stopped(Exception):
        pass

    def stop(done: int, total: int) -> None:
        raise Stopped

    with pytest.raises(Stopped):
        ProjectionRunner(engine, sql, window=5).rebuild(on_progress=stop)
    assert indexes(sql) == set(), "the replay writes its rows before the indexes"
    ProjectionRunner(engine, sql).catch_up()
    assert indexes(sql) == wanted
    assert rows(sql) == whole


def test_an_unknown_read_model_is_refused_by_name(store: Any) -> None:
    engine, _, sql, _ = store
    with pytest.raises(ValueError, match="no read model named nope"):
        ProjectionRunner(engine, sql).rebuild(["nope"])


def test_two_runners_at_once_apply_every_event_exactly_once(store: Any) -> None:
    engine, clock, sql, url = store
    some_history(engine, clock, deals=12)
    errors: list[BaseException] = []

    def run() -> None:
        other = build_engine(url, clock=clock, actor="runner")
        other_sql = sql_engine(store_settings(url))
        try:
            ProjectionRunner(other, other_sql, window=7).catch_up()
        except BaseException as e:  # reported below
            errors.append(e)
        finally:
            other_sql.dispose()
            other.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    concurrent = rows(sql)
    ProjectionRunner(engine, sql).rebuild()
    assert rows(sql) == concurrent


def test_a_projection_killed_mid_run_resumes_to_the_rows_of_a_single_run(tmp_path: Path) -> None:
    crashed = tmp_path / "crashed.db"
    clock = Clock(T0 + timedelta(days=60))
    engine = build_engine(str(crashed), clock=clock, actor="tester")
    some_history(engine, clock, deals=120)
    head = engine.recorder.max_notification_id()
    assert head is not None
    engine.close()
    single = tmp_path / "single.db"
    shutil.copy(crashed, single)

    env = {**os.environ, "SALESENGINE_DB": str(crashed)}
    command = [sys.executable, "-m", "salesengine", "project", "--batch-size", "20"]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Kill it once it has committed some batches but not all of them.
    deadline = time.monotonic() + 60
    position = 0
    while time.monotonic() < deadline and proc.poll() is None:
        position = _tracked(crashed)
        if position >= 100:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stopped_at = _tracked(crashed)
    assert 0 < stopped_at < head, f"killed at {stopped_at} of {head}: not mid-run"

    resumed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert resumed.returncode == 0, resumed.stderr
    subprocess.run(
        [sys.executable, "-m", "salesengine", "project"],
        env={**os.environ, "SALESENGINE_DB": str(single)},
        check=True,
        capture_output=True,
    )
    a = sql_engine(store_settings(str(crashed)))
    b = sql_engine(store_settings(str(single)))
    try:
        assert rows(a) == rows(b)
        assert positions(a) == positions(b) == dict.fromkeys(NAMES, head)
    finally:
        a.dispose()
        b.dispose()


def _tracked(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            found = conn.execute("SELECT MIN(position) FROM projection_tracking").fetchone()
    except sqlite3.OperationalError:  # the table is not created yet
        return 0
    return int(found[0] or 0)


def analyzed(sql: Engine) -> dict[str, int]:
    """How often each read-model table was analyzed by hand (PostgreSQL's statistics)."""
    query = (
        "SELECT relname, analyze_count FROM pg_stat_user_tables WHERE schemaname = current_schema()"
    )
    with sql.connect() as conn:
        found = {str(name): int(n) for name, n in conn.exec_driver_sql(query)}
    return {table: found.get(table, 0) for table in VIEW_TABLES}


@pytest.mark.postgres
def test_a_long_catch_up_on_postgresql_leaves_the_read_models_analyzed(
    pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from salesengine.projections import runner as runner_module
    from tests.support.services import PG_URL

    url = f"{PG_URL}?schema={pg_schema}"
    clock = Clock(T0 + timedelta(days=60))
    engine = build_engine(url, clock=clock, actor="tester")
    sql = sql_engine(store_settings(url))
    try:
        some_history(engine, clock, deals=3)
        monkeypatch.setattr(runner_module, "ANALYZE_AFTER", 10_000)
        ProjectionRunner(engine, sql).catch_up()  # a short one: autovacuum's to do
        assert analyzed(sql) == dict.fromkeys(VIEW_TABLES, 0)
        monkeypatch.setattr(runner_module, "ANALYZE_AFTER", 5)
        report = ProjectionRunner(engine, sql).rebuild()
        assert report.applied >= 5
        # Statistics reach pg_stat_user_tables through the stats system: wait a little.
        deadline = time.monotonic() + 10
        while min(analyzed(sql).values()) == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert min(analyzed(sql).values()) >= 1, analyzed(sql)
    finally:
        sql.dispose()
        engine.close()
