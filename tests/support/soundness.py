"""What every fault case and every restored backup must show of a store: it opens, its
database is intact, its read models equal a replay of its log, and it takes a new write.

``assert_store_sound`` is the one place each case calls; a check that every case must
pass from now on is added there once: the audit chain's verification is one.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from salesengine.application.engine import SalesEngine
from salesengine.audit.verify import verify_store
from salesengine.bootstrap import build_engine
from salesengine.projections.base import metadata
from salesengine.projections.runner import ProjectionRunner
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.commands import cmd

READ_MODEL_TABLES = (
    "stage_intervals",
    "deal_attributes",
    "funnel_keys",
    "funnel_points",
    "funnel_blocks",
    "visits",
)


@dataclass(frozen=True)
class Sound:
    """What the checks found: the log (before the probe write) and its commands."""

    events: int
    head: int
    command_ids: Counter[str]  # each command id of the log, with its number of events
    read_models: dict[str, list[tuple[Any, ...]]]


def logged_commands(engine: SalesEngine) -> tuple[int, int, Counter[str]]:
    """The log's event count, its head and the events per command id."""
    found: Counter[str] = Counter()
    events = head = 0
    for n in engine.recorder.select_notifications(1, limit=10**9):
        event = engine.mapper.to_domain_event(n)
        found[str(getattr(event, "command_id", None))] += 1
        events += 1
        head = n.id
    return events, head, found


def log_of(url: str) -> Sound:
    """The log alone (no checks, no probe): for a second look after a first full check."""
    engine = build_engine(url, actor="checker", create=False)
    try:
        return Sound(*logged_commands(engine), read_models={})
    finally:
        engine.close()


def read_model_rows(sql: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read model, in a stable order."""
    with sql.connect() as conn:
        return {
            name: sorted(tuple(r) for r in conn.execute(select(metadata.tables[name])))
            for name in READ_MODEL_TABLES
        }


def assert_store_sound(url: str) -> Sound:
    """Open the store after a fault and hold it to every promise of recovery."""
    settings = store_settings(url, creating=False)
    if settings.kind == "sqlite":
        with closing(sqlite3.connect(settings.env["SQLITE_DBNAME"])) as conn:
            found = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        assert found == ["ok"], f"the SQLite file is damaged: {found}"
    engine = build_engine(url, actor="checker", create=False)
    sql = sql_engine(settings)
    try:
        events, head, commands = logged_commands(engine)
        # The read models resume from whatever the fault left (a batch half projected
        # was rolled back with its position) and must equal a replay from nothing.
        runner = ProjectionRunner(engine, sql)
        runner.catch_up()
        resumed = read_model_rows(sql)
        runner.rebuild()
        replayed = read_model_rows(sql)
        assert resumed == replayed, "the read models differ from a replay of the log"
        # The store takes a write, and its read models follow it.
        probe = f"PROBE-{uuid.uuid4().hex[:8]}"
        result = engine.execute(cmd(deal=probe, cmd="open", policy="funnel-list", owner="x"))
        assert result.status == "applied", result
        runner.catch_up()
        assert any(row for row in read_model_rows(sql)["deal_attributes"] if probe in row), (
            "the read models did not take the probe deal"
        )
        # Every event a fault left behind is chained, and the chain holds (issue 23).
        verified = verify_store(settings, sql, keys=[])
        assert verified.report.holds, [f.as_json() for f in verified.report.findings]
        assert verified.report.entries >= events, "events the chain does not cover"
        return Sound(events, head, commands, replayed)
    finally:
        sql.dispose()
        engine.close()
