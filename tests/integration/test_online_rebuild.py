"""``rebuild --online``: the read models built beside the old ones and swapped in at once,
on SQLite and PostgreSQL. Queries during it never fail and never see some tables of
the old version with some of the new; a build stopped part way leaves the old serving
and resumes; runners that kept the old models current carry on after the swap."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.projections.base import metadata
from salesengine.projections.online_rebuild import rebuild_online
from salesengine.projections.registry import NAMES
from salesengine.projections.runner import ProjectionRunner
from salesengine.store.settings import StoreSettings, store_settings
from salesengine.store.shadow import shadow_files, shadow_settings
from salesengine.store.sql import sql_engine
from tests.integration.test_projections import VIEW_TABLES, positions, rows, some_history
from tests.support.clock import T0, Clock
from tests.support.commands import cmd


class Stopped(Exception):
    pass


@pytest.fixture
def store(store_url: str) -> Iterator[tuple[SalesEngine, Clock, Engine, StoreSettings]]:
    clock = Clock(T0 + timedelta(days=60))
    engine = build_engine(store_url, clock=clock, actor="tester")
    settings = store_settings(store_url)
    sql = sql_engine(settings)
    yield engine, clock, sql, settings
    sql.dispose()
    engine.close()


def snapshot(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
    return {
        name: sorted(tuple(r) for r in conn.execute(select(metadata.tables[name])))
        for name in VIEW_TABLES
    }


def shadow_exists(sql: Engine, settings: StoreSettings) -> bool:
    shadow = shadow_settings(settings)
    if settings.kind == "sqlite":
        return shadow_files(shadow)[0].exists()
    with sql.connect() as conn:
        found = conn.execute(
            text("SELECT 1 FROM pg_namespace WHERE nspname = :n"),
            {"n": shadow.env["POSTGRES_SCHEMA"]},
        ).first()
    return found is not None


def in_place(engine: SalesEngine, sql: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of a rebuild in place, for comparison (the live tables replayed)."""
    ProjectionRunner(engine, sql, window=1000).rebuild()
    return rows(sql)


def test_an_online_rebuild_swaps_in_the_rows_of_a_rebuild_in_place(store: Any) -> None:
    engine, clock, sql, settings = store
    some_history(engine, clock, deals=12)
    ProjectionRunner(engine, sql).catch_up()
    expected = rows(sql)
    head = engine.recorder.max_notification_id()
    result = rebuild_online(engine, settings, window=17)
    assert result.resumed_from == 0
    assert result.read == head
    assert result.position == head
    assert rows(sql) == expected
    assert positions(sql) == dict.fromkeys(NAMES, head)
    assert not shadow_exists(sql, settings), "the shadow is gone once swapped in"
    assert rows(sql) == in_place(engine, sql)


def test_queries_during_an_online_rebuild_see_the_old_or_the_new_never_both(store: Any) -> None:
    engine, clock, sql, settings = store
    some_history(engine, clock, deals=16)
    ProjectionRunner(engine, sql).catch_up()
    new = rows(sql)
    # An old version that differs from the new in two tables.
    with sql.begin() as conn:
        conn.exec_driver_sql("DELETE FROM visits")
        conn.exec_driver_sql("DELETE FROM deal_attributes WHERE valid_to IS NOT NULL")
    old = rows(sql)
    assert old["visits"] != new["visits"]
    assert old["deal_attributes"] != new["deal_attributes"]
    reads = sql_engine(settings, reader=True)
    seen: list[str] = []
    failures: list[BaseException] = []
    done = threading.Event()

    def query() -> None:
        while not done.is_set():
            try:
                with reads.connect() as conn, conn.begin():
                    got = snapshot(conn)
            except BaseException as e:  # any failure is the finding
                failures.append(e)
                return
            seen.append("old" if got == old else "new" if got == new else "mixed")

    reader = threading.Thread(target=query)
    reader.start()
    try:
        rebuild_online(engine, settings, window=7, before_swap=lambda: _wait_for(seen, 3))
        _wait_for(seen, len(seen) + 3)
    finally:
        done.set()
        reader.join()
        reads.dispose()
    assert not failures, failures
    assert "mixed" not in seen
    assert seen[0] == "old" and seen[-1] == "new", (seen[0], seen[-1])
    assert rows(sql) == new


def _wait_for(seen: list[str], count: int) -> None:
    deadline = threading.Event()
    for _ in range(2000):
        if len(seen) >= count:
            return
        deadline.wait(0.01)


def test_a_build_stopped_part_way_leaves_the_old_serving_and_resumes(store: Any) -> None:
    engine, clock, sql, settings = store
    some_history(engine, clock, deals=12)
    ProjectionRunner(engine, sql).catch_up()
    live = rows(sql)
    live_positions = positions(sql)

    def stop_after_some(done: int, _total: int) -> None:
        if done >= 40:
            raise Stopped

    with pytest.raises(Stopped):
        rebuild_online(engine, settings, window=20, on_progress=stop_after_some)
    assert rows(sql) == live, "the old read models are untouched"
    assert positions(sql) == live_positions
    assert shadow_exists(sql, settings), "the part built is kept for the next run"
    some_history(engine, clock, deals=2, start=12)  # written in between
    result = rebuild_online(engine, settings, window=20)
    head = engine.recorder.max_notification_id()
    assert 0 < result.resumed_from < head
    assert result.read == head - result.resumed_from
    assert positions(sql) == dict.fromkeys(NAMES, head)
    swapped = rows(sql)
    assert swapped == in_place(engine, sql)


def test_runners_and_writers_carry_on_across_the_swap(store: Any) -> None:
    engine, clock, sql, settings = store
    some_history(engine, clock, deals=8)
    live = ProjectionRunner(engine, sql, window=11)
    live.catch_up()  # holds caches of the old tables from here on
    written = threading.Event()

    def write() -> None:
        some_history(engine, clock, deals=6, start=8)
        written.set()

    writer = threading.Thread(target=write)

    def meanwhile() -> None:
        writer.start()
        live.catch_up()  # the live models still kept current while the shadow is built

    rebuild_online(engine, settings, window=11, before_swap=meanwhile)
    writer.join()
    assert written.is_set()
    for n in range(8):
        engine.execute(cmd(deal=f"D{n}", cmd="amount", amount=str(3 * n + 1),
                           at=T0 + timedelta(days=n % 17, minutes=50)))  # fmt: skip
    live.catch_up()
    head = engine.recorder.max_notification_id()
    assert positions(sql) == dict.fromkeys(NAMES, head)
    carried_on = rows(sql)
    assert carried_on == in_place(engine, sql)


def test_the_command_line_rebuilds_online(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from salesengine.cli.main import app

    db = tmp_path / "cli.db"
    clock = Clock(T0 + timedelta(days=60))
    engine = build_engine(str(db), clock=clock, actor="tester")
    some_history(engine, clock, deals=3)
    head = engine.recorder.max_notification_id()
    engine.close()
    result = CliRunner().invoke(app, ["--db", str(db), "rebuild", "--online"])
    assert result.exit_code == 0, result.output
    assert f"swapped in at position {head:,}" in result.output
    refused = CliRunner().invoke(app, ["--db", str(db), "rebuild", "visits", "--online"])
    assert refused.exit_code != 0
    assert "leave NAME out" in refused.output


def test_the_service_serves_the_old_models_while_a_new_definition_is_built(
    store: Any, store_url: str
) -> None:
    from salesengine.service.context import ServiceContext, ServiceSettings

    engine, clock, sql, _ = store
    some_history(engine, clock, deals=10)
    ProjectionRunner(engine, sql).catch_up()
    new = rows(sql)
    # What another version left: other rows, under another definition of `visits`.
    with sql.begin() as conn:
        conn.exec_driver_sql("DELETE FROM visits")
        conn.exec_driver_sql("UPDATE projection_tracking SET version = version + 1000 "
                             "WHERE name = 'visits'")  # fmt: skip
    old = rows(sql)
    context = ServiceContext.open(ServiceSettings(db=store_url, follow=False))
    try:
        assert context.runner.outdated() == ["visits"]
        context.start()
        with context.reads.connect() as conn:
            served = snapshot(conn)
        assert served["visits"] in (old["visits"], new["visits"]), "never a half-built table"
        context.wait_for_rebuild(60)
        assert context.runner.outdated() == []
        context.runner.catch_up()
        assert rows(sql) == new
        assert positions(sql) == dict.fromkeys(NAMES, engine.recorder.max_notification_id())
    finally:
        context.stop()
