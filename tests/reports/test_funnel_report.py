"""The funnel read from the projections equals the funnel replayed from the raw events."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesengine.application.funnel import funnel_by_replay
from salesengine.reports.funnel import funnel
from tests.reports.support import POLICIES, Step, built, fresh_db, histories, instants

EXAMPLES = int(os.environ.get("SALESENGINE_EXAMPLES", "150"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@PROPERTY
@given(steps=histories(), data=st.data())
def test_the_funnel_as_of_t_known_at_k_equals_a_replay_of_the_raw_events(
    kind: str, tmp_path: Path, steps: list[Step], data: st.DataObject
) -> None:
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b:
        deals = b.deals()
        for _ in range(4):
            t, k = instants(data, b)
            expected = [
                (r.policy, r.stage, r.currency, r.deals, r.amount, r.weighted)
                for r in funnel_by_replay(deals, POLICIES, t, k)
            ]
            with b.sql.connect() as conn:
                rows = funnel(conn, POLICIES, as_of=t, known_at=k)
            got = [(r.policy, r.stage, r.currency, r.deals, r.amount, r.weighted) for r in rows]
            assert got == expected, f"T={t} K={k}"
