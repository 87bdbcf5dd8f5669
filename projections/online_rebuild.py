"""Rebuild every read model while the old ones keep answering: ``salesengine rebuild
--online``.

The new tables are built in the shadow (``store.shadow``: a file beside an SQLite
store, a schema beside a PostgreSQL one) by a runner of their own, which keeps its
tracking positions there too; the live read models meanwhile keep being read, and kept
current by their own runners. Once the shadow has caught up with the log, one
transaction on the store's database puts its tables and positions in place of the live
ones, so that a query sees either the old read models or the new, never some of each;
the live runners then carry on from the shadow's positions.

A build that stops part way (a crash, a signal) leaves the live read models as they
were, and the next ``--online`` rebuild resumes it from the shadow's positions.

The swap: on PostgreSQL each new table moves into the store's schema in place of the
old (``ALTER TABLE ... SET SCHEMA``, no rows copied); queries that hold the old tables
finish first and later ones find the new. On SQLite the rows are copied into fresh
tables inside one write transaction: readers keep reading the old ones until it
commits, and writers of the store wait for it (docs/scaling.md gives its length).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from salesengine.domain.errors import StoreUnavailable
from salesengine.projections.base import metadata
from salesengine.projections.runner import LOCK, CatchUpReport, ProjectedEngine, ProjectionRunner
from salesengine.store.settings import StoreSettings, quoted_ident
from salesengine.store.shadow import (
    create_shadow_sql,
    drop_shadow_sql,
    live_schema,
    remove_shadow_files,
    shadow_settings,
)
from salesengine.store.sql import db_reason, sql_engine

# The advisory lock of the shadow's runners: not the live runners' own, so that the live
# read models keep being caught up while the shadow is built.
SHADOW_LOCK = LOCK + 1
# PostgreSQL's deadlock check runs after one second of waiting by default.
SWAP_LOCK_WAIT = "500ms"
SWAP_ATTEMPTS = 120
TRACKING = "projection_tracking"

Progress = Callable[[int, int], None]


@dataclass(slots=True)
class OnlineRebuild:
    resumed_from: int  # the shadow's lowest position when this run began (0: fresh)
    position: int = 0  # the positions the swapped-in read models start from
    read: int = 0
    build_seconds: float = 0.0
    swap_seconds: float = 0.0
    tables: list[str] = field(default_factory=list)


def rebuild_online(
    engine: ProjectedEngine,
    settings: StoreSettings,
    *,
    window: int = 5000,
    on_progress: Progress | None = None,
    before_swap: Callable[[], None] | None = None,
) -> OnlineRebuild:
    """Build every read model in the shadow, catch it up, swap it in, drop the shadow.
    ``before_swap``: called once the shadow is built (tests stop or time it there)."""
    shadow = shadow_settings(settings)
    live = sql_engine(settings)
    try:
        ProjectionRunner(engine, live).setup()  # a store never projected has no tables yet
        _create(live, shadow)
        built = sql_engine(shadow)
        try:
            result = _build(engine, built, window, on_progress)
            if before_swap is not None:
                before_swap()
            started = time.perf_counter()
            result.position = _swap(live, settings, shadow)
            result.swap_seconds = time.perf_counter() - started
        finally:
            built.dispose()
        _drop(live, shadow)
    except SQLAlchemyError as e:
        raise StoreUnavailable(f"cannot rebuild the read models online: {db_reason(e)}") from None
    finally:
        live.dispose()
    return result


def _tables() -> list[str]:
    return [t.name for t in metadata.sorted_tables if t.name != TRACKING]


def _create(live: Engine, shadow: StoreSettings) -> None:
    statement = create_shadow_sql(shadow)
    if statement is not None:
        with live.begin() as conn:
            conn.exec_driver_sql(statement)


def _drop(live: Engine, shadow: StoreSettings) -> None:
    statement = drop_shadow_sql(shadow)
    if statement is not None:
        with live.begin() as conn:
            conn.exec_driver_sql(statement)
    remove_shadow_files(shadow)


def _build(
    engine: ProjectedEngine, built: Engine, window: int, on_progress: Progress | None
) -> OnlineRebuild:
    runner = ProjectionRunner(engine, built, window=window, lock=SHADOW_LOCK)
    positions = list(runner.positions().values())
    resumed = min(positions) if positions and all(p > 0 for p in positions) else 0
    result = OnlineRebuild(resumed_from=resumed, tables=_tables())
    started = time.perf_counter()
    # Resumed: a model whose definition changed since is rebuilt there by catch_up.
    report: CatchUpReport = (
        runner.catch_up(on_progress) if resumed else runner.rebuild(on_progress=on_progress)
    )
    result.read = report.read
    # What was written while it built: a short tail, so the swapped-in models start close
    # to the head and the live runners have little to do after the swap.
    result.read += runner.catch_up().read
    runner.setup()
    result.build_seconds = time.perf_counter() - started
    return result


def _swap(live: Engine, settings: StoreSettings, shadow: StoreSettings) -> int:
    if settings.kind == "sqlite":
        return _swap_sqlite(live, shadow)
    return _swap_postgres(live, settings, shadow)


def _swap_postgres(live: Engine, settings: StoreSettings, shadow: StoreSettings) -> int:
    """The swap, retried while a query holds a table it replaces: it waits for a lock at
    most ``SWAP_LOCK_WAIT`` (below the server's deadlock check, so that a query which
    holds one read model and waits for another is never the one cancelled), then gives
    way and tries again."""
    here = quoted_ident(live_schema(settings))
    there = quoted_ident(shadow.env["POSTGRES_SCHEMA"])
    tables = [quoted_ident(name) for name in _tables()]
    for _attempt in range(SWAP_ATTEMPTS):
        try:
            with live.begin() as conn:
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{SWAP_LOCK_WAIT}'")
                # Both kinds of runner wait: the live ones must not write the tables
                # being replaced, nor the shadow's its tables while they move.
                conn.execute(text(f"SELECT pg_advisory_xact_lock({LOCK})"))
                conn.execute(text(f"SELECT pg_advisory_xact_lock({SHADOW_LOCK})"))
                # Every table at once, before any changes: a query that has read one
                # of them holds it to its end, so it can never see old and new.
                conn.exec_driver_sql(
                    f"LOCK TABLE {', '.join(f'{here}.{t}' for t in tables)} "
                    "IN ACCESS EXCLUSIVE MODE"
                )
                for table in tables:
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {here}.{table} CASCADE")
                    conn.exec_driver_sql(f"ALTER TABLE {there}.{table} SET SCHEMA {here}")
                return _move_positions(
                    conn.exec_driver_sql, f"{here}.{TRACKING}", f"{there}.{TRACKING}"
                )
        except OperationalError as e:
            if "lock timeout" not in str(e.orig):
                raise
            time.sleep(0.05)
    raise StoreUnavailable(
        f"cannot swap the rebuilt read models in: their tables stayed in use through "
        f"{SWAP_ATTEMPTS} attempts; the rebuild is kept and resumes on the next run"
    )


def _swap_sqlite(live: Engine, shadow: StoreSettings) -> int:
    path = shadow.env["SQLITE_DBNAME"]
    raw: Any = live.raw_connection()
    try:
        db = raw.driver_connection  # autocommit: ATTACH must run outside a transaction
        db.execute("ATTACH DATABASE ? AS rebuild", (path,))
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                position = _copy_sqlite(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.execute("DETACH DATABASE rebuild")
    finally:
        raw.close()
    return position


def _copy_sqlite(db: Any) -> int:
    """The shadow's tables into the store's, in the caller's transaction: each table
    made afresh, filled, and only then indexed (an index built once over the rows costs
    a fraction of keeping it up row by row)."""
    names = _tables()
    marks = ",".join("?" * len(names))
    schema = db.execute(
        f"SELECT type, name, tbl_name, sql FROM rebuild.sqlite_master "
        f"WHERE tbl_name IN ({marks}) AND sql IS NOT NULL",
        names,
    ).fetchall()
    for name in names:
        table = quoted_ident(name)
        db.execute(f"DROP TABLE IF EXISTS main.{table}")
        created = [r[3] for r in schema if r[0] == "table" and r[1] == name]
        if not created:
            raise StoreUnavailable(f"the rebuilt read models lack table {name}")
        db.execute(created[0])
        db.execute(f"INSERT INTO main.{table} SELECT * FROM rebuild.{table}")
    for kind, _name, _table, sql in schema:
        if kind == "index":
            db.execute(sql)
    return _move_positions(db.execute, f"main.{TRACKING}", f"rebuild.{TRACKING}")


def _move_positions(run: Callable[[str], Any], here: str, there: str) -> int:
    """The shadow's tracking positions in place of the store's, in the caller's
    transaction (``run``: its connection's execute); the lowest of them."""
    run(f"DELETE FROM {here}")
    run(f"INSERT INTO {here} SELECT * FROM {there}")
    row = run(f"SELECT min(position) FROM {here}").fetchone()
    return int(row[0] or 0)
