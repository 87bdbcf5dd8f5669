"""Reports that keep part of what they read on a pooled connection (the sealed blocks'
sums, the least recorded time after them) answer, on that same connection, exactly what
a replay of the raw events gives after more events arrive and more blocks are sealed."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salesengine.application.funnel import funnel_by_replay
from salesengine.projections.funnel_points import FunnelPoints
from salesengine.projections.runner import ProjectionRunner
from salesengine.reports.funnel import funnel
from salesengine.reports.recorded import earliest_recorded
from tests.support.clock import Clock
from tests.support.histories import POLICIES, VERSIONS, Step, apply_history, built, instants
from tests.support.properties import examples, store_property
from tests.support.stores import fresh_db
from tests.support.timelines import any_histories

PROPERTY = store_property(examples(60))


@pytest.fixture(autouse=True)
def tiny_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FunnelPoints, "block_size", 2)


@PROPERTY
@given(steps=any_histories(), more=any_histories(), data=st.data())
def test_a_connection_that_kept_earlier_reads_answers_as_a_replay_after_more_events(
    kind: str, tmp_path: Path, steps: list[Step], more: list[Step], data: st.DataObject
) -> None:
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b:
        with b.sql.connect() as conn:
            dbapi = conn.connection.dbapi_connection
            t, k = instants(data, b)
            funnel(conn, POLICIES, as_of=t, known_at=k)  # kept on the connection
            earliest_recorded(conn)
        clock = b.engine.clock
        assert isinstance(clock, Clock)
        b.recorded.extend(apply_history(b.engine, clock, more))
        ProjectionRunner(b.engine, b.sql, window=5).catch_up()
        deals = b.deals()
        with b.sql.connect() as conn:
            assert conn.connection.dbapi_connection is dbapi, "the pool gave the same connection"
            recorded = [e.timestamp for d in deals for e in d.timeline]
            assert earliest_recorded(conn) == min(recorded, default=None)
            for _ in range(3):
                t, k = instants(data, b)
                expected = [
                    (r.policy, r.stage, r.currency, r.deals, r.amount)
                    for r in funnel_by_replay(deals, POLICIES, t, k, VERSIONS)
                ]
                rows = funnel(conn, POLICIES, as_of=t, known_at=k)
                got = [(r.policy, r.stage, r.currency, r.deals, r.amount) for r in rows]
                assert got == expected, f"T={t} K={k}"
