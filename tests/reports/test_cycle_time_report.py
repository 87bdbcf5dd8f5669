"""Cycle time read from the stage intervals equals a replay of the raw events."""

from __future__ import annotations

import statistics
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesengine.domain.deal import Deal
from salesengine.reports.cycle_time import CycleTimeRow, cycle_time, median, percentile
from salesengine.reports.size_bands import Banding
from tests.support.histories import POLICIES, Step, built, instants
from tests.support.properties import examples, store_property
from tests.support.report_examples import PIPELINE, day, step, store
from tests.support.report_queries import window_query, window_report
from tests.support.stores import fresh_db
from tests.support.timelines import (
    any_histories,
    known_deals,
    ordered_slices,
    window,
)

PROPERTY = store_property(examples(40))

Stats = tuple[str, Any, str, int, float | None, float | None, float | None]


def days_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 86400


def cycle_time_by_replay(
    deals: list[Deal],
    start: datetime,
    end: datetime,
    known_at: datetime | None,
    by: str | None,
    policy: str | None,
    banding: Banding | None = None,
) -> list[Stats]:
    """METRICS.md "Cycle time", deal by deal over its known timeline."""
    values: dict[tuple[str, Any, str], list[float]] = {}
    for deal in known_deals(deals, known_at, banding):
        if policy is not None and deal.policy != policy:
            continue
        stages = POLICIES[deal.policy].stage_keys
        entries = deal.entries
        for entry, following in pairwise(entries):
            if entry.position in stages and start <= following.at < end:
                key = (deal.policy, deal.group(by, following.at), entry.position)
                values.setdefault(key, []).append(days_between(entry.at, following.at))
        for entry in entries:
            if entry.position == "won" and start <= entry.at < end:
                key = (deal.policy, deal.group(by, entry.at), "won")
                values.setdefault(key, []).append(days_between(entries[0].at, entry.at))
    present = {(p, g) for p, g, _ in values}
    if policy is not None and by is None:
        present.add((policy, None))
    rows: list[Stats] = []
    for name, grp in ordered_slices(present, by, banding):
        for stage in (*POLICIES[name].stage_keys, "won"):
            found = values.get((name, grp, stage), [])
            if not found:
                rows.append((name, grp, stage, 0, None, None, None))
                continue
            rows.append(
                (
                    name,
                    grp,
                    stage,
                    len(found),
                    statistics.fmean(found),
                    statistics.median(found),
                    float(numpy.percentile(found, 90)),
                )
            )
    return rows


def stats(rows: list[CycleTimeRow]) -> list[Stats]:
    return [
        (r.policy, r.group, r.stage, r.count, r.mean_days, r.median_days, r.p90_days) for r in rows
    ]


def close(got: list[Stats], expected: list[Stats]) -> bool:
    if [g[:4] for g in got] != [e[:4] for e in expected]:
        return False
    for g, e in zip(got, expected, strict=True):
        for a, b in zip(g[4:], e[4:], strict=True):
            if (a is None) != (b is None) or (a is not None and a != pytest.approx(b, rel=1e-9)):
                return False
    return True


@PROPERTY
@given(steps=any_histories(), data=st.data())
def test_cycle_time_in_a_window_known_at_k_equals_a_replay_of_the_raw_events(
    kind: str, tmp_path: Path, steps: list[Step], data: st.DataObject
) -> None:
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b:
        deals = b.deals()
        for _ in range(3):
            start, end = window(data, b)
            _, k = instants(data, b)
            query = window_query(data)
            by, _, _, banding, policy = query
            expected = cycle_time_by_replay(deals, start, end, k, by, policy, banding)
            rows = window_report(cycle_time, b.sql, start, end, k, query)
            got = stats(rows)
            assert close(got, expected), (
                f"[{start}, {end}) K={k} by={by} policy={policy}\n{got}\n{expected}"
            )


# ---------------------------------------------------------------- the statistics


@pytest.mark.parametrize(
    ("values", "expected_median", "expected_p90"),
    [
        ([5.0], 5.0, 5.0),
        ([1.0, 3.0], 2.0, 2.8),  # rank 0.9: 1 + 0.9 x (3 - 1)
        ([2.0, 2.0, 4.0], 2.0, 3.6),  # rank 1.8: 2 + 0.8 x (4 - 2)
        ([1.0, 2.0, 3.0, 10.0], 2.5, 7.9),  # rank 2.7: 3 + 0.7 x (10 - 3)
        ([float(n) for n in range(1, 11)], 5.5, 9.1),  # rank 8.1: 9 + 0.1 x 1
        ([float(n) for n in range(11)], 5.0, 9.0),  # rank 9 exactly
    ],
)
def test_median_and_p90_by_hand(
    values: list[float], expected_median: float, expected_p90: float
) -> None:
    assert median(values) == pytest.approx(expected_median)
    assert percentile(values, 90) == pytest.approx(expected_p90)


@settings(max_examples=300)
@given(
    values=st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=40),
    percent=st.integers(0, 100),
)
def test_percentile_is_numpys_linear_default(values: list[float], percent: int) -> None:
    ordered = sorted(values)
    assert percentile(ordered, percent) == pytest.approx(
        float(numpy.percentile(values, percent)), rel=1e-12, abs=1e-9
    )
    assert median(ordered) == pytest.approx(statistics.median(values), rel=1e-12, abs=1e-9)


# ---------------------------------------------------------------- worked examples
# A advances on day 2 and is won on day 10; B is lost on day 5; C stays; D opens on day
# 20; E is lost on day 6 and reopened on day 8 (tests/support/report_examples.py).


def by_stage(rows: list[CycleTimeRow], group: str | None = None) -> dict[str, tuple[Any, ...]]:
    return {
        r.stage: (r.count, r.mean_days, r.median_days, r.p90_days) for r in rows if r.group == group
    }


def test_stays_count_where_they_end_and_wins_from_the_opening(tmp_path: Path) -> None:
    with store(tmp_path, PIPELINE) as (_, conn):
        rows = by_stage(cycle_time(conn, POLICIES, start=day(0), end=day(11)))
    # identified: A 0->2, B 1->5 (lost), E 4->6 (lost); C and E's second stay are open.
    assert rows["identified"] == (3, pytest.approx(8 / 3), 2.0, pytest.approx(3.6))
    assert rows["contacted"] == (1, 8.0, 8.0, 8.0)  # A 2->10
    assert rows["won"] == (1, 10.0, 10.0, 10.0)  # A opened day 0, won day 10
    assert rows["qualified"] == (0, None, None, None)
    assert list(rows) == [*POLICIES["five-level"].stage_keys, "won"]


def test_the_window_includes_its_start_and_excludes_its_end(tmp_path: Path) -> None:
    with store(tmp_path, PIPELINE) as (_, conn):
        before = by_stage(cycle_time(conn, POLICIES, start=day(0), end=day(5)))
        from_five = by_stage(cycle_time(conn, POLICIES, start=day(5), end=day(6)))
    assert before["identified"][0] == 1  # A; B left on day 5
    assert from_five["identified"] == (1, 4.0, 4.0, 4.0)  # B


def test_stays_are_grouped_by_the_owner_when_they_ended(tmp_path: Path) -> None:
    steps = [*PIPELINE, step("owner", "A", 1.5, owner="wang", team="east")]
    with store(tmp_path, steps) as (_, conn):
        rows = cycle_time(conn, POLICIES, start=day(0), end=day(11), by="owner")
    li, wang = by_stage(rows, "li"), by_stage(rows, "wang")
    assert li["identified"] == (1, 2.0, 2.0, 2.0)  # E
    assert wang["identified"] == (2, 3.0, 3.0, pytest.approx(3.8))  # A 2, B 4
    assert wang["won"][0] == 1
    assert li["won"][0] == 0


def test_a_stay_ended_by_a_loss_recorded_later_is_not_known_before(tmp_path: Path) -> None:
    steps = [*PIPELINE, Step(600, {"cmd": "lost", "deal": "C", "at": day(6), "reason": "gone"})]
    with store(tmp_path, steps) as (b, conn):
        now = by_stage(cycle_time(conn, POLICIES, start=day(0), end=day(11)))
        then = by_stage(
            cycle_time(conn, POLICIES, start=day(0), end=day(11), known_at=b.recorded[-2])
        )
    assert now["identified"] == (4, 2.75, 2.5, pytest.approx(3.7))  # 2, 2, 3, 4
    assert then["identified"] == (3, pytest.approx(8 / 3), 2.0, pytest.approx(3.6))


def test_an_empty_window_is_refused(tmp_path: Path) -> None:
    with store(tmp_path, PIPELINE) as (_, conn), pytest.raises(ValueError, match="after its start"):
        cycle_time(conn, POLICIES, start=day(2), end=day(1))
