"""The moves between T and T2 (``funnel --compare``) read from the stage intervals equal a
replay of the raw events."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salesengine.domain.deal import Deal
from salesengine.domain.policy import FunnelPolicy
from salesengine.domain.values import OUTCOMES, Status
from salesengine.reports.funnel_moves import DESTINATIONS, MEASURES, MoveRow, moves
from salesengine.reports.size_bands import Banding
from tests.support.histories import POLICIES, Built, Step, built, instants
from tests.support.properties import examples, store_property
from tests.support.report_examples import PIPELINE, day, opening, step, store, to_contacted
from tests.support.report_queries import window_query, window_report
from tests.support.stores import fresh_db
from tests.support.timelines import (
    Known,
    any_histories,
    group_rank,
    known_deals,
)

PROPERTY = store_property(examples(40))
Cell = tuple[str, Any, str, str, str]  # policy, group, currency, stage, measure


def moves_by_replay(
    deals: list[Deal],
    policies: Mapping[str, FunnelPolicy],
    start: datetime,
    end: datetime,
    known_at: datetime | None,
    by: str | None,
    policy: str | None,
    banding: Banding,
) -> dict[Cell, tuple[int, Decimal]]:
    """docs/metrics.md "Moves between T and T2", deal by deal over its known timeline."""
    cells: dict[Cell, list[Any]] = defaultdict(lambda: [0, Decimal(0)])

    def count(deal: Known, stage: str, measure: str, at: datetime) -> None:
        """One deal in a cell, with its amount, currency and group at ``at``."""
        state = deal.deal.state_at(at, known_at)
        currency = state.currency or policies[deal.policy].currency
        cell = cells[(deal.policy, deal.group(by, at), currency, stage, measure)]
        cell[0] += 1
        cell[1] += state.amount or Decimal(0)

    for deal in known_deals(deals, known_at, banding):
        if policy is not None and deal.policy != policy:
            continue
        for measure, at in (("start", start), ("end", end)):
            state = deal.deal.state_at(at, known_at)
            if state.status is not Status.NEW:
                count(deal, state.position, measure, at)
        entries = deal.entries
        for n, entry in enumerate(entries):
            if start < entry.at <= end:
                count(deal, entry.position, "in", entry.at)
            if n + 1 == len(entries) or not start < entries[n + 1].at <= end:
                continue
            following = entries[n + 1]
            count(deal, entry.position, "out", following.at)
            if entry.position in OUTCOMES:
                continue  # a reopening: out, to no column of its own
            if following.position in OUTCOMES:
                where = following.position
            else:
                keys = policies[deal.policy].stage_keys
                later = keys.index(following.position) > keys.index(entry.position)
                where = "advanced" if later else "regressed"
            count(deal, entry.position, where, following.at)
    return {key: (n, amount) for key, (n, amount) in cells.items()}


def reported(rows: list[MoveRow]) -> dict[Cell, tuple[int, Decimal]]:
    return {
        (r.policy, r.group, r.currency, r.stage, m): (r[m].deals, r[m].amount)
        for r in rows
        for m in MEASURES
        if r[m].deals
    }


def period(data: st.DataObject, b: Built) -> tuple[datetime, datetime, datetime | None]:
    """(T, T2, K): T on or around an effective instant, T2 on a later one or a while after."""
    start, k = instants(data, b)
    later = [t for t in b.effective_times() if t > start]
    if bool(later) and data.draw(st.booleans()):
        return start, data.draw(st.sampled_from(later)), k
    days = data.draw(st.sampled_from([0.01, 1, 3, 10, 30, 400]))
    return start, start + timedelta(days=days), k


@PROPERTY
@given(steps=any_histories(), data=st.data())
def test_the_moves_between_t_and_t2_known_at_k_equal_a_replay_of_the_raw_events(
    kind: str, tmp_path: Path, steps: list[Step], data: st.DataObject
) -> None:
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b:
        deals = b.deals()
        for _ in range(3):
            start, end, k = period(data, b)
            query = window_query(data)
            by, policies, given, banding, policy = query
            expected = moves_by_replay(deals, policies, start, end, k, by, policy, banding)
            rows = window_report(moves, b.sql, start, end, k, query)
            where = f"T={start} T2={end} K={k} by={by} policy={policy} bands={given}"
            assert reported(rows) == expected, where
            # Slices by policy, currency and group (size bands lowest first); every stage
            # and outcome of each, in the policy's order.
            slices = list(dict.fromkeys((r.policy, r.currency, r.group) for r in rows))
            rank = group_rank(by, banding)
            assert slices == sorted(slices, key=lambda s: (s[0], s[1], rank(s[2]))), where
            for name, currency, group in slices:
                listed = [
                    r.stage
                    for r in rows
                    if (r.policy, r.currency, r.group) == (name, currency, group)
                ]
                assert listed == [*POLICIES[name].stage_keys, *OUTCOMES], where
                assert policy is None or name == policy
                assert by is not None or group is None
            for r in rows:
                destinations = [r[d].deals for d in DESTINATIONS]
                if r.stage in OUTCOMES:
                    assert not any(destinations), where
                else:
                    assert r["out"].deals == sum(destinations), where
            # Summed over currencies and groups, the end is the start plus in, less out.
            flow: dict[tuple[str, str], int] = defaultdict(int)
            for r in rows:
                flow[(r.policy, r.stage)] += (
                    r["start"].deals + r["in"].deals - r["out"].deals - r["end"].deals
                )
            assert set(flow.values()) <= {0}, where


# ---------------------------------------------------------------- worked examples
# A advances on day 2 and is won on day 10; B is lost on day 5; C stays; D opens on day
# 20; E is lost on day 6 and reopened on day 8 (tests/support/report_examples.py). Amounts: none.


def by_stage(rows: list[MoveRow]) -> dict[str, dict[str, int]]:
    return {r.stage: {m: r[m].deals for m in MEASURES if r[m].deals} for r in rows}


def test_every_move_in_the_period_counts_not_only_the_difference_of_two_snapshots(
    tmp_path: Path,
) -> None:
    with store(tmp_path, PIPELINE) as (_, conn):
        rows = by_stage(moves(conn, POLICIES, start=day(1.5), end=day(9)))
    # C and E opened into identified; A advanced and B and E were lost out of it; E came
    # back in by its reopening (which takes it out of lost).
    assert rows["identified"] == {
        "start": 2, "in": 3, "out": 3, "advanced": 1, "lost": 2, "end": 2
    }  # fmt: skip
    assert rows["contacted"] == {"in": 1, "end": 1}
    assert rows["lost"] == {"in": 2, "out": 1, "end": 1}


def test_a_deal_in_and_out_of_a_stage_twice_counts_twice_at_the_amount_of_each_move(
    tmp_path: Path,
) -> None:
    steps = [
        opening("F", 0),
        step("amount", "F", 0.5, amount="100"),
        *to_contacted("F", 1),
        step("regress", "F", 2, to="identified", reason="re-qualify"),
        step("amount", "F", 2.5, amount="250"),
        step("advance", "F", 3, to="contacted"),
        step("regress", "F", 4, to="identified", reason="re-qualify"),
        step("lost", "F", 5, reason="price"),
    ]
    with store(tmp_path, steps) as (_, conn):
        rows = {r.stage: r for r in moves(conn, POLICIES, start=day(0.5), end=day(5))}
    contacted, identified = rows["contacted"], rows["identified"]
    assert (contacted["in"].deals, contacted["in"].amount) == (2, Decimal(350))
    assert (contacted["out"].deals, contacted["regressed"].deals) == (2, 2)
    assert contacted["regressed"].amount == Decimal(350)
    assert (identified["in"].deals, identified["out"].deals) == (2, 3)
    assert (identified["advanced"].deals, identified["lost"].deals) == (2, 1)
    assert (identified["start"].deals, identified["start"].amount) == (1, Decimal(100))
    assert (rows["lost"]["end"].deals, rows["lost"]["end"].amount) == (1, Decimal(250))


def test_the_second_instant_must_be_after_the_first(tmp_path: Path) -> None:
    with store(tmp_path, PIPELINE) as (_, conn), pytest.raises(ValueError, match="after"):
        moves(conn, POLICIES, start=day(2), end=day(2))
