"""The projection's stage exits equal a replay of the raw events, its survival is the
product-limit estimate, and its Monte Carlo is reproducible and sane (docs/metrics.md,
"Stage exits as of T" and "Projection as of T")."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesengine.reports.open_deals import Only
from salesengine.reports.portfolio_deals import Selection
from salesengine.reports.portfolio_exits import StageExits, model, stage_exits
from salesengine.reports.portfolio_projection import (
    LOST_CODE,
    OPEN,
    WON_CODE,
    project,
    simulate,
)
from tests.support.histories import POLICIES, Step, built, instants
from tests.support.properties import examples, store_property
from tests.support.stores import fresh_db
from tests.support.timelines import any_histories, known_deals

PROPERTY = store_property(examples(30))
DAY = 86_400


def replayed_exits(
    deals: list[Any], policy: str, t: datetime, k: datetime | None, window: float
) -> dict[str, tuple[int, Counter[tuple[float, str]], list[float]]]:
    """Per stage: (observations, each exit's (days, destination), days of those still in
    the stage at T), from each deal's stage timeline known at K."""
    start = t - timedelta(days=window)
    found: dict[str, tuple[int, Counter[tuple[float, str]], list[float]]] = {}
    for stage in POLICIES[policy].stage_keys:
        found[stage] = (0, Counter(), [])
    for known in known_deals(deals, k):
        if known.policy != policy:
            continue
        entries = known.entries
        for n, entry in enumerate(entries):
            if entry.position not in found or not start <= entry.at < t:
                continue
            count, exits, still = found[entry.position]
            following = entries[n + 1] if n + 1 < len(entries) else None
            if following is not None and following.at <= t:
                days = (following.at - entry.at).total_seconds() / DAY
                exits[(round(days, 9), following.position)] += 1
            else:
                still.append(round((t - entry.at).total_seconds() / DAY, 9))
            found[entry.position] = (count + 1, exits, still)
    return found


def product_limit(exits: list[float], still: list[float], at: float) -> float:
    """The textbook Kaplan-Meier survival at ``at``: over the distinct exit days d <= at,
    the product of 1 - (exits at d) / (observations of at least d days)."""
    survival = 1.0
    for d in sorted(set(exits)):
        if d > at:
            break
        at_risk = sum(1 for x in [*exits, *still] if x >= d)
        survival *= 1 - exits.count(d) / at_risk
    return survival


@PROPERTY
@given(steps=any_histories(), data=st.data())
def test_the_stage_exits_equal_a_replay_of_the_stage_timelines(
    kind: str, tmp_path: Path, steps: list[Step], data: st.DataObject
) -> None:
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b:
        deals = b.deals()
        for _ in range(3):
            t, k = instants(data, b)
            policy = data.draw(st.sampled_from(sorted(POLICIES)))
            window = data.draw(st.sampled_from([0.5, 3, 30, 400]))
            with b.sql.connect() as conn:
                got = model(conn, POLICIES, policy=policy, as_of=t, window_days=window, known_at=k)
            expected = replayed_exits(deals, policy, t, k, window)
            assert [s.stage for s in got.stages] == list(POLICIES[policy].stage_keys)
            for s in got.stages:
                count, exits, still = expected[s.stage]
                where = f"{s.stage} T={t} K={k} window={window}"
                assert s.observed == count, where
                assert (
                    Counter(zip((round(d, 9) for d in s.days), s.destinations, strict=True))
                    == exits
                )
                assert list(s.days) == sorted(s.days)
                # The survival after each exit is the textbook estimate at its days.
                values = [d for (d, _), n in exits.items() for _ in range(n)]
                for d in sorted(set(s.days)):
                    expected_survival = product_limit(values, still, round(d, 9))
                    assert s.survival_at(d) == pytest.approx(expected_survival, abs=1e-9), where
                shares = s.share("advanced") + s.share("dropped") + s.share("regressed")
                assert shares + s.stays == pytest.approx(1.0)


def exits_of(stage: str, exits: list[tuple[float, str]], still: list[float]) -> StageExits:
    """A stage of the five-level policy with these exits (days, destination) and these
    days of deals still in it."""
    us = 86_400_000_000
    observations: list[tuple[int, str | None, str]] = [
        (round(d * us), dest, f"e{n}") for n, (d, dest) in enumerate(exits)
    ]
    observations += [(round(d * us), None, f"s{n}") for n, d in enumerate(still)]
    return stage_exits(POLICIES["five-level"], stage, observations)


def test_given_exits_and_a_deal_still_in_the_stage_then_the_survival_is_the_product_limit() -> None:
    # Exits after 1 day (advanced) and two after 2 days (one lost, one advanced); one deal
    # still in the stage after 1.5 days.
    s = exits_of("identified", [(1, "contacted"), (2, "lost"), (2, "contacted")], still=[1.5])
    assert (s.observed, s.exits) == (4, 3)
    assert s.survival_at(0.5) == 1.0
    assert s.survival_at(1) == pytest.approx(3 / 4)
    assert s.survival_at(1.9) == pytest.approx(3 / 4)
    # Two of the two left at risk exit at 2 days: 3/4 x 0.
    assert s.survival_at(2) == 0.0
    # Each exit removes its share: 1/4 at day 1, 3/8 and 3/8 at day 2.
    assert s.share("advanced") == pytest.approx(1 / 4 + 3 / 8)
    assert s.share("dropped") == pytest.approx(3 / 8)
    assert s.stays == 0.0


# ---------------------------------------------------------------- the Monte Carlo


def test_given_no_exit_forward_then_nothing_is_won() -> None:
    # Conversion 0: every exit of every stage is lost (some deals also stay).
    stages = {
        name: exits_of(name, [(1, "lost"), (3, "abandoned")], still=[10])
        for name in POLICIES["five-level"].stage_keys
    }
    deals = [(name, 0.0) for name in stages for _ in range(3)]
    outcomes = simulate(stages, deals, horizon=30, runs=200, seed=1)
    assert not (outcomes == WON_CODE).any()
    assert (outcomes == LOST_CODE).any() and (outcomes == OPEN).any()


def test_given_no_exit_at_all_then_every_deal_stays_open() -> None:
    stages = {name: exits_of(name, [], still=[5]) for name in POLICIES["five-level"].stage_keys}
    outcomes = simulate(stages, [("identified", 2.0), ("committed", 0.0)], 365, 50, seed=3)
    assert (outcomes == OPEN).all()


@settings(max_examples=50, deadline=None)
@given(
    durations=st.lists(st.floats(0.01, 60), min_size=1, max_size=8),
    shares=st.lists(st.floats(0, 0.999), min_size=1, max_size=6),
    seed=st.integers(0, 2**32),
)
def test_given_one_stage_that_always_wins_then_all_are_won_within_the_horizon(
    durations: list[float], shares: list[float], seed: int
) -> None:
    # One stage, every deal observed left it for won: conversion 1. Deals at T are in it
    # for less than the longest stay; the horizon is the longest stay.
    stage = exits_of("committed", [(d, "won") for d in durations], still=[])
    longest = max(stage.days)  # as stored: to the microsecond
    deals = [("committed", s * longest) for s in shares]
    outcomes = simulate({"committed": stage}, deals, horizon=longest, runs=20, seed=seed)
    assert (outcomes == WON_CODE).all()


def test_given_even_odds_then_about_half_are_won() -> None:
    stage = exits_of("committed", [(1, "won"), (2, "lost"), (3, "won"), (4, "lost")], still=[])
    outcomes = simulate({"committed": stage}, [("committed", 0.0)] * 50, 10, runs=400, seed=5)
    assert (outcomes != OPEN).all()
    assert (outcomes == WON_CODE).mean() == pytest.approx(0.5, abs=0.02)


def test_the_same_seed_gives_the_same_runs_and_another_seed_others() -> None:
    stages = {
        name: exits_of(name, [(1, "contacted"), (2, "lost"), (5, "won"), (8, "qualified")], [4])
        for name in POLICIES["five-level"].stage_keys
    }
    deals = [(name, float(n)) for n, name in enumerate(stages)] * 4
    first = simulate(stages, deals, 12, runs=100, seed=42)
    assert np.array_equal(first, simulate(stages, deals, 12, runs=100, seed=42))
    assert not np.array_equal(first, simulate(stages, deals, 12, runs=100, seed=43))


# ---------------------------------------------------------------- on a store


def pipeline(key: str, owner: str, start: datetime, moves: int) -> list[Step]:
    spec = POLICIES["five-level"]
    facts = {c.key: True for s in spec.stages for c in s.criteria if c.source == "fact"}
    steps = [
        Step(1, {"cmd": "open", "deal": key, "policy": "five-level", "at": start,
                 "owner": owner, "team": "east", "amount": "1000", "facts": facts})
    ]  # fmt: skip
    at = start
    number = int(key[1:])
    for n in range(moves):
        at += timedelta(days=3 + number % 5 + n)
        if n + 1 < len(spec.stage_keys):
            steps.append(Step(1, {"cmd": "advance", "deal": key, "to": spec.stage_keys[n + 1],
                                  "at": at}))  # fmt: skip
        else:
            steps.append(Step(1, {"cmd": "won" if number % 2 else "lost", "deal": key, "at": at}))
    return steps


def history() -> list[Step]:
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    steps: list[Step] = []
    for n in range(24):
        owner = ("Ann", "Bo", "Cy")[n % 3]
        steps += pipeline(f"d{n:02d}", owner, start + timedelta(days=3 * n), 1 + n % 5)
    return steps


T = datetime(2026, 4, 15, tzinfo=UTC)


def projected(kind: str, tmp_path: Path, **options: Any) -> dict[str, Any]:
    with fresh_db(kind, tmp_path) as db, built(db, history()) as b, b.sql.connect() as conn:
        return project(conn, POLICIES, Selection("five-level"), as_of=T, **options).as_dict()


def test_a_projection_on_a_store_is_reproducible_and_counts_every_open_deal(
    kind: str, tmp_path: Path
) -> None:
    first = projected(kind, tmp_path, runs=300, seed=11)
    assert first == projected(kind, tmp_path, runs=300, seed=11)
    groups = {(g["level"], g["name"]): g for g in first["groups"]}
    assert set(groups) == {("rep", "Ann"), ("rep", "Bo"), ("rep", "Cy"), ("team", "east"),
                           ("all", None)}  # fmt: skip
    assert first["horizon"] == "sales cycle" and first["horizon_days"] > 0
    whole = groups["all", None]
    assert whole["open_now"] == sum(groups["rep", r]["open_now"] for r in ("Ann", "Bo", "Cy"))
    # Every open deal ends the horizon open, won or lost: the means add up to it.
    total = whole["open"]["mean"] + whole["won"]["mean"] + whole["lost"]["mean"]
    assert total == pytest.approx(whole["open_now"])
    for g in groups.values():
        for figure in ("open", "won", "lost"):
            # (The mean may lie outside the band: a deal lost in 5% of the runs.)
            assert 0 <= g[figure]["p10"] <= g[figure]["p90"] <= g["open_now"]
        assert 0 <= g["won_amount"]["p10"] <= g["won_amount"]["p90"] <= g["amount_now"]


def test_kept_to_one_owner_the_projection_holds_only_their_deals(tmp_path: Path) -> None:
    with fresh_db("sqlite", tmp_path) as db, built(db, history()) as b, b.sql.connect() as conn:
        whole = project(conn, POLICIES, Selection("five-level"), as_of=T, runs=50)
        ann = project(
            conn, POLICIES, Selection("five-level", only=Only(owner="Ann")), as_of=T, runs=50
        )
    assert {d.owner for d in ann.deals} == {"Ann"}
    assert len(ann.deals) == sum(1 for d in whole.deals if d.owner == "Ann") > 0


@pytest.mark.postgres
def test_sqlite_and_postgresql_give_the_same_projection(tmp_path: Path) -> None:
    assert projected("sqlite", tmp_path, runs=200) == projected("postgres", tmp_path, runs=200)


def test_without_a_win_in_the_window_a_horizon_must_be_given(tmp_path: Path) -> None:
    with fresh_db("sqlite", tmp_path) as db, built(db, history()) as b, b.sql.connect() as conn:
        with pytest.raises(ValueError, match="no sales cycle"):
            project(conn, POLICIES, Selection("five-level"), as_of=T, window_days=1)
        given_ = project(
            conn, POLICIES, Selection("five-level"), as_of=T, window_days=1, horizon_days=30
        )
    assert given_.horizon_given and math.isclose(given_.horizon_days, 30)
