"""Random histories of deals and quotas together: the shared deal histories with quota
commands (sets, breakdowns, clears, changes of currency and team, backdated ones)
interleaved in recording order, and a store built from them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from salesengine.application.quota_commands import QUOTA_COMMAND_NAMES, parse_quota_command
from salesengine.application.quotas import Quotas
from salesengine.bootstrap import build_engine
from salesengine.domain.errors import SalesEngineError
from salesengine.projections.runner import ProjectionRunner
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.clock import T0, Clock
from tests.support.histories import (
    OWNERS,
    RECORDING_START,
    TEAMS,
    Built,
    Step,
    apply_history,
    histories,
    interleave,
    with_edits,
)

# The deal histories open deals from T0 (2 March 2026) to about four months later.
PERIODS = ("2026", "2026-Q1", "2026-Q2", "2026-Q3", "2026-03", "2026-04", "2026-05",
           "2026-06", "2026-07")  # fmt: skip


@st.composite
def quota_commands(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Quota commands for the owners and teams of the deal histories, effective around
    the deals' months: mostly valid, some refused (another currency, parts that do not
    sum, a clear of nothing)."""
    commands: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 8))):
        rep = draw(st.booleans())
        c: dict[str, Any] = {
            "at": (T0 + timedelta(days=draw(st.integers(-70, 150)),
                                  minutes=draw(st.sampled_from([0, 1, 59])))).isoformat(),
            "period": draw(st.sampled_from(PERIODS)),
        }  # fmt: skip
        if rep:
            c["rep"] = draw(st.sampled_from(OWNERS))
            team = draw(st.sampled_from([None, *TEAMS]))
            if team is not None:
                c["team"] = team
        else:
            c["team"] = draw(st.sampled_from(TEAMS))
        if draw(st.integers(0, 5)) == 0:
            c["cmd"] = "clear_quota"
        else:
            c["cmd"] = "set_quota"
            cents = draw(st.sampled_from(["", "", ".5", ".01"]))
            c["amount"] = f"{draw(st.integers(0, 3_000_000))}{cents}"
            c["currency"] = draw(st.sampled_from(["CNY", "CNY", "CNY", "USD"]))
            split = draw(st.sampled_from([None, None, "none", "quarterly", "monthly", "given"]))
            if split == "given":
                parts = draw(st.lists(st.integers(0, 900_000), min_size=3, max_size=4))
                c["split"] = [str(p) for p in parts]  # mostly refused: their sum differs
            elif split is not None:
                c["split"] = split
        commands.append(c)
    return commands


@st.composite
def deal_and_quota_histories(draw: st.DrawFn) -> list[Step]:
    """Deal histories (with policy edits) and quota commands, interleaved."""
    deals = draw(with_edits(histories()))
    quotas = draw(quota_commands())
    # Each quota command is its own queue: their recording order is free.
    queues: list[list[dict[str, Any]]] = [[c] for c in quotas]
    queues.append([s.command for s in deals])
    return interleave(draw, queues)


@contextmanager
def built_with_quotas(db: str, steps: list[Step]) -> Iterator[tuple[Built, Quotas, list[datetime]]]:
    """The history applied to a fresh store (refused commands skipped), the read models
    caught up; with the quota service and the effective times of the quotas applied."""
    clock = Clock(RECORDING_START)
    engine = build_engine(db, clock=clock, actor="prop")
    sql = sql_engine(store_settings(db))
    quotas = Quotas(engine)
    try:
        recorded: list[datetime] = []
        quota_times: list[datetime] = []
        for step in steps:
            c = step.command
            if c.get("cmd") not in QUOTA_COMMAND_NAMES:
                recorded += apply_history(engine, clock, [step])
                continue
            clock.tick(minutes=step.tick_minutes)
            try:
                quotas.execute(parse_quota_command(c))
            except SalesEngineError:
                continue
            recorded.append(clock.now)
            quota_times.append(datetime.fromisoformat(c["at"]))
        runner = ProjectionRunner(engine, sql, window=7)
        runner.catch_up()
        yield Built(engine, sql, runner, recorded), quotas, quota_times
    finally:
        sql.dispose()
        engine.close()
