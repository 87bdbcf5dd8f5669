"""The store's earliest recorded instant, read from the read models, is the least
recorded time of any event in the store, for every history and block size."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given

from salesengine.projections.funnel_points import FunnelPoints
from salesengine.reports.recorded import earliest_recorded
from tests.support.histories import Step, built
from tests.support.properties import examples, store_property
from tests.support.stores import fresh_db
from tests.support.timelines import any_histories

PROPERTY = store_property(examples(150) // 3 or 1)


@pytest.fixture(params=[1, 3, 20_000], ids=["one-point-blocks", "tiny-blocks", "one-open-block"])
def block_size(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(FunnelPoints, "block_size", request.param)
    return int(request.param)


@PROPERTY
@given(steps=any_histories())
def test_the_earliest_recorded_instant_is_the_least_of_every_event(
    kind: str, block_size: int, tmp_path: Path, steps: list[Step]
) -> None:
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b:
        recorded = [e.timestamp for d in b.deals() for e in d.timeline]
        with b.sql.connect() as conn:
            assert earliest_recorded(conn) == min(recorded, default=None)
