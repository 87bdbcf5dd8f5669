"""Conversion and drop-off read from the stage intervals equals a replay of the raw events."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salesengine.domain.deal import Deal
from salesengine.domain.values import OUTCOMES
from salesengine.reports.conversion import ConversionRow, conversion
from salesengine.reports.size_bands import Banding
from tests.support.histories import POLICIES, Step, built, instants
from tests.support.properties import examples, store_property
from tests.support.report_examples import PIPELINE, day, opening, step, store, to_contacted
from tests.support.report_queries import window_query, window_report
from tests.support.stores import fresh_db
from tests.support.timelines import (
    any_histories,
    known_deals,
    ordered_slices,
    window,
)

PROPERTY = store_property(examples(40))

Counts = tuple[str, Any, str, int, int, int, int]  # policy, group, stage, cohort, adv, lost, open


def conversion_by_replay(
    deals: list[Deal],
    start: datetime,
    end: datetime,
    known_at: datetime | None,
    by: str | None,
    policy: str | None,
    banding: Banding | None = None,
) -> list[Counts]:
    """METRICS.md "Conversion and drop-off", deal by deal over its known timeline."""
    tally: dict[tuple[str, Any, str], list[int]] = {}
    for deal in known_deals(deals, known_at, banding):
        if policy is not None and deal.policy != policy:
            continue
        stages = POLICIES[deal.policy].stage_keys
        positions = [e.position for e in deal.entries]
        for stage in stages:
            if stage not in positions:
                continue
            first = positions.index(stage)
            entered = deal.entries[first].at
            if not start <= entered < end:
                continue
            after = stages[stages.index(stage) + 1 :]
            advanced = any(p == "won" or p in after for p in positions[first + 1 :])
            lost = not advanced and positions[-1] in ("lost", "abandoned")
            row = tally.setdefault((deal.policy, deal.group(by, entered), stage), [0, 0, 0])
            row[0] += 1
            row[1] += int(advanced)
            row[2] += int(lost)
    present = {(p, g) for p, g, _ in tally}
    if policy is not None and by is None:
        present.add((policy, None))
    rows = []
    for name, grp in ordered_slices(present, by, banding):
        for stage in POLICIES[name].stage_keys:
            cohort, adv, gone = tally.get((name, grp, stage), [0, 0, 0])
            rows.append((name, grp, stage, cohort, adv, gone, cohort - adv - gone))
    return rows


def counts(rows: list[ConversionRow]) -> list[Counts]:
    return [(r.policy, r.group, r.stage, r.cohort, r.advanced, r.lost, r.open) for r in rows]


@PROPERTY
@given(steps=any_histories(), data=st.data())
def test_conversion_in_a_window_known_at_k_equals_a_replay_of_the_raw_events(
    kind: str, tmp_path: Path, steps: list[Step], data: st.DataObject
) -> None:
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b:
        deals = b.deals()
        for _ in range(3):
            start, end = window(data, b)
            _, k = instants(data, b)
            query = window_query(data)
            by, _, given, banding, policy = query
            expected = conversion_by_replay(deals, start, end, k, by, policy, banding)
            rows = window_report(conversion, b.sql, start, end, k, query)
            where = f"[{start}, {end}) K={k} by={by} policy={policy} bands={given}"
            assert counts(rows) == expected, where
            for r in rows:
                assert r.advanced + r.lost + r.open == r.cohort
                assert r.stage not in OUTCOMES
                if r.cohort:
                    assert r.conversion == r.advanced / r.cohort
                    assert r.drop_off == r.lost / r.cohort
                else:
                    assert r.conversion is None
                    assert r.drop_off is None


# ---------------------------------------------------------------- worked examples
# A advances on day 2 and is won on day 10; B is lost on day 5; C stays; D opens on day
# 20; E is lost on day 6 and reopened on day 8 (tests/support/report_examples.py).


def by_stage(rows: list[ConversionRow], group: str | None = None) -> dict[str, tuple[Any, ...]]:
    return {
        r.stage: (r.cohort, r.advanced, r.lost, r.open, r.conversion, r.drop_off)
        for r in rows
        if r.group == group
    }


def test_the_cohort_is_the_deals_first_entering_a_stage_in_the_window(tmp_path: Path) -> None:
    with store(tmp_path, PIPELINE) as (_, conn):
        first_week = by_stage(conversion(conn, POLICIES, start=day(0), end=day(7)))
        later = by_stage(conversion(conn, POLICIES, start=day(7), end=day(30)))
    # A, B, C and E entered identified in the first week: A advanced, B was lost, C is
    # open and E, lost but reopened, is open too.
    assert first_week["identified"] == (4, 1, 1, 2, 0.25, 0.25)
    # A entered contacted on day 2 and was won later (after the window).
    assert first_week["contacted"] == (1, 1, 0, 0, 1.0, 0.0)
    assert first_week["qualified"] == (0, 0, 0, 0, None, None)
    # E's re-entry on day 8 is not a first entry: only D's opening counts.
    assert later["identified"] == (1, 0, 0, 1, 0.0, 0.0)
    assert later["contacted"][0] == 0


def test_a_window_with_nothing_lists_nothing_unless_a_policy_is_named(tmp_path: Path) -> None:
    with store(tmp_path, PIPELINE) as (_, conn):
        assert conversion(conn, POLICIES, start=day(50), end=day(60)) == []
        named = conversion(conn, POLICIES, start=day(50), end=day(60), policy="five-level")
    assert [r.stage for r in named] == list(POLICIES["five-level"].stage_keys)
    assert all(r.cohort == 0 and r.conversion is None for r in named)


def test_a_loss_recorded_later_is_not_known_before_it_was_recorded(tmp_path: Path) -> None:
    steps = [*PIPELINE, Step(600, {"cmd": "lost", "deal": "C", "at": day(6), "reason": "gone"})]
    with store(tmp_path, steps) as (b, conn):
        before = b.recorded[-2]
        now = by_stage(conversion(conn, POLICIES, start=day(0), end=day(7)))
        then = by_stage(conversion(conn, POLICIES, start=day(0), end=day(7), known_at=before))
    assert now["identified"][:4] == (4, 1, 2, 1)
    assert then["identified"][:4] == (4, 1, 1, 2)


def test_deals_are_grouped_by_their_owner_at_their_first_entry(tmp_path: Path) -> None:
    # A changes hands between entering identified (day 0) and contacted (day 2).
    steps = [*PIPELINE, step("owner", "A", 1.5, owner="wang", team="east")]
    with store(tmp_path, steps) as (_, conn):
        rows = conversion(conn, POLICIES, start=day(0), end=day(7), by="owner")
    li, wang = by_stage(rows, "li"), by_stage(rows, "wang")
    assert li["identified"][:4] == (3, 1, 0, 2)  # A, C, E
    assert wang["identified"][:4] == (1, 0, 1, 0)  # B
    assert wang["contacted"][:4] == (1, 1, 0, 0)  # A, by then wang's
    assert li["contacted"][0] == 0
    assert [r.as_dict("owner")["owner"] for r in rows][:1] == ["li"]


def test_an_empty_window_is_refused(tmp_path: Path) -> None:
    with store(tmp_path, PIPELINE) as (_, conn), pytest.raises(ValueError, match="after its start"):
        conversion(conn, POLICIES, start=day(1), end=day(1))


def test_a_deal_that_advanced_past_the_stage_and_was_lost_counts_as_advanced(
    tmp_path: Path,
) -> None:
    steps = [opening("F", 1), *to_contacted("F", 2), step("lost", "F", 3, reason="price")]
    with store(tmp_path, steps) as (_, conn):
        rows = by_stage(conversion(conn, POLICIES, start=day(0), end=day(7)))
    assert rows["identified"] == (1, 1, 0, 0, 1.0, 0.0)
    assert rows["contacted"] == (1, 0, 1, 0, 0.0, 1.0)
