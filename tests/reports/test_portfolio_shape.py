"""The funnel shape and new deals per period read from the projections equal a replay of
the raw events (docs/metrics.md, "Funnel shape"), and the pyramid asks what the plan's
ideal funnel does."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salesengine.domain.deal import Deal
from salesengine.domain.values import Status
from salesengine.reports.open_deals import Only
from salesengine.reports.periods import parse_period
from salesengine.reports.portfolio_deals import Selection
from salesengine.reports.portfolio_shape import Shape, least_counts, shape
from tests.support.deal_events import opened_event
from tests.support.histories import OWNERS, POLICIES, TEAMS, Step, built, instants
from tests.support.properties import examples, store_property
from tests.support.stores import fresh_db
from tests.support.timelines import any_histories

PROPERTY = store_property(examples(30))
Cells = dict[tuple[str, str | None], dict[str, tuple[int, Decimal]]]


def month_names(t: datetime, unit: str, count: int) -> list[str]:
    """The oracle's own calendar: T's period and the ones before it, oldest first."""
    day = t.astimezone(UTC).date()
    names: list[str] = []
    if unit == "week":
        monday = day - timedelta(days=day.weekday())
        for n in range(count):
            iso = (monday - timedelta(weeks=n)).isocalendar()
            names.append(f"{iso.year:04d}-W{iso.week:02d}")
    elif unit == "month":
        y, m = day.year, day.month
        for _ in range(count):
            names.append(f"{y:04d}-{m:02d}")
            y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    else:
        y, q = day.year, (day.month - 1) // 3 + 1
        for _ in range(count):
            names.append(f"{y:04d}-Q{q}")
            y, q = (y, q - 1) if q > 1 else (y - 1, 4)
    return list(reversed(names))


def period_name(at: datetime, unit: str) -> str:
    return month_names(at, unit, 1)[0]


def groups_of(owner: str | None, team: str | None) -> list[tuple[str, str | None]]:
    return [("rep", owner), ("team", team), ("all", None)]


def add(cells: Cells, key: tuple[str, str | None], column: str, amount: Decimal) -> None:
    n, total = cells.setdefault(key, {}).get(column, (0, Decimal(0)))
    cells[key][column] = (n + 1, total + amount)


def replayed(
    deals: Iterable[Deal],
    t: datetime,
    k: datetime | None,
    chosen: Selection,
    unit: str,
    count: int,
) -> tuple[Cells, Cells]:
    """(open deals per group and stage, new deals per group and period) from
    Deal.state_at, following docs/metrics.md word by word."""
    spec = POLICIES[chosen.policy]
    currency = chosen.currency or spec.currency
    names = month_names(t, unit, count)
    stages: Cells = {}
    new: Cells = {}

    def kept(s: Any) -> bool:
        return (
            s.policy == chosen.policy
            and (s.currency or spec.currency) == currency
            and chosen.only.owner in (None, s.owner)
            and chosen.only.team in (None, s.team)
        )

    for deal in deals:
        s = deal.state_at(t, k)
        if s.status is Status.OPEN and kept(s):
            for g in groups_of(s.owner, s.team):
                add(stages, g, s.stage, s.amount or Decimal(0))
        opening = opened_event(deal.timeline)
        if (k is not None and opening.timestamp > k) or opening.effective_at > t:
            continue
        name = period_name(opening.effective_at, unit)
        at_opening = deal.state_at(opening.effective_at, k)
        if name in names and kept(at_opening):
            for g in groups_of(at_opening.owner, at_opening.team):
                add(new, g, name, at_opening.amount or Decimal(0))
    return stages, new


def reported(result: Shape) -> tuple[Cells, Cells]:
    stages: Cells = {}
    new: Cells = {}
    for g in result.groups:
        key = (g.group.level, g.group.name)
        held = {s.stage: (s.deals, s.amount) for s in g.stages if s.deals}
        entered = {n.period: (n.deals, n.amount) for n in g.new if n.deals}
        if held:
            stages[key] = held
        if entered:
            new[key] = entered
    return stages, new


@PROPERTY
@given(steps=any_histories(), data=st.data())
def test_the_shape_and_new_deals_equal_a_replay_of_the_raw_events(
    kind: str, tmp_path: Path, steps: list[Step], data: st.DataObject
) -> None:
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b:
        deals = b.deals()
        for _ in range(3):
            t, k = instants(data, b)
            chosen = Selection(
                data.draw(st.sampled_from(sorted(POLICIES))),
                data.draw(st.sampled_from([None, None, "USD"])),
                Only(
                    data.draw(st.sampled_from([None, None, *OWNERS])),
                    data.draw(st.sampled_from([None, None, *TEAMS])),
                ),
            )
            unit = data.draw(st.sampled_from(["week", "month", "quarter"]))
            count = data.draw(st.integers(1, 4))
            with b.sql.connect() as conn:
                got = shape(conn, POLICIES, chosen, as_of=t, known_at=k, every=unit, periods=count)
            where = f"T={t} K={k} {chosen} {unit} x{count}"
            assert reported(got) == replayed(deals, t, k, chosen, unit, count), where
            assert [p.name for p in got.periods] == month_names(t, unit, count), where
            # Every group lists every stage of the policy and every period, in order.
            keys = POLICIES[chosen.policy].stage_keys
            for g in got.groups:
                assert [s.stage for s in g.stages] == list(keys)
                assert [n.period for n in g.new] == [p.name for p in got.periods]
                # The pyramid, recomputed from the plan's conversions, stage by stage.
                for s, after in pairwise(g.stages):
                    rate = got.conversions[s.stage]
                    expected = after.deals if not rate else math.ceil(after.deals / rate)
                    assert s.least == expected, where
                assert g.stages[-1].least is None
            levels = [g.group.level for g in got.groups]
            assert levels == sorted(levels, key=["rep", "team", "all"].index)
            assert got.groups[-1].group.level == "all"


# ---------------------------------------------------------------- examples


def test_given_conversions_the_pyramid_asks_each_stage_for_the_next_over_its_rate() -> None:
    stages = ("a", "b", "c", "d")
    deals = {"a": 5, "b": 3, "c": 4, "d": 2}
    conversions: dict[str, Fraction | None] = {
        "a": Fraction(1, 2),  # b holds 3: a must hold 6
        "b": None,  # no cohort: at least c's 4 (the plain pyramid)
        "c": Fraction(0),  # nothing advanced: the plain pyramid again, at least 2
    }
    assert least_counts(stages, deals, conversions) == [
        (6, "conversion"),
        (4, "plain"),
        (2, "plain"),
        (None, None),
    ]


def opening(key: str, owner: str, team: str, day: date, amount: str = "1000") -> dict[str, Any]:
    at = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
    spec = POLICIES["five-level"]
    facts = {c.key: True for s in spec.stages for c in s.criteria if c.source == "fact"}
    return {
        "cmd": "open", "deal": key, "policy": "five-level", "at": at, "owner": owner,
        "team": team, "amount": amount, "facts": facts,
    }  # fmt: skip


def test_given_a_top_heavy_funnel_then_its_shape_is_flagged_and_new_deals_are_counted(
    kind: str, tmp_path: Path
) -> None:
    # Given Ann with one identified deal and three contacted ones, Bo with two identified
    steps = [
        Step(1, opening("A1", "Ann", "east", date(2026, 1, 10))),
        Step(1, opening("A2", "Ann", "east", date(2026, 2, 3))),
        Step(1, opening("A3", "Ann", "east", date(2026, 2, 4))),
        Step(1, opening("A4", "Ann", "east", date(2026, 3, 2))),
        Step(1, opening("B1", "Bo", "west", date(2026, 3, 3), amount="500")),
        Step(1, opening("B2", "Bo", "west", date(2026, 3, 20), amount="700")),
    ]
    for key in ("A2", "A3", "A4"):
        at = datetime(2026, 3, 10, 9, tzinfo=UTC)
        steps.append(Step(1, {"cmd": "advance", "deal": key, "to": "contacted", "at": at}))
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b:
        assert len(b.recorded) == len(steps)
        # When the shape is read as of 25 March (no history before: plain pyramid)
        with b.sql.connect() as conn:
            got = shape(
                conn,
                POLICIES,
                Selection("five-level"),
                as_of=datetime(2026, 3, 25, tzinfo=UTC),
                period=parse_period("2026-Q1"),
            )
    rows = {(g.group.level, g.group.name): g for g in got.groups}
    assert list(rows) == [("rep", "Ann"), ("rep", "Bo"), ("team", "east"), ("team", "west"),
                          ("all", None)]  # fmt: skip
    ann = rows["rep", "Ann"]
    # Then Ann's identified stage is short of the contacted one: not a pyramid
    assert [(s.stage, s.deals, s.least) for s in ann.stages[:2]] == [
        ("identified", 1, 3),
        ("contacted", 3, 0),
    ]
    assert ann.not_pyramid == ["identified"]
    assert rows["rep", "Bo"].not_pyramid == []
    assert rows["all", None].stages[0].amount == Decimal(2200)
    # and the new deals per month, January to March
    assert [p.name for p in got.periods] == ["2026-01", "2026-02", "2026-03"]
    assert [(n.period, n.deals) for n in ann.new] == [("2026-01", 1), ("2026-02", 2),
                                                     ("2026-03", 1)]  # fmt: skip
    assert [(n.deals, n.amount) for n in rows["rep", "Bo"].new] == [
        (0, Decimal(0)), (0, Decimal(0)), (2, Decimal(1200))
    ]  # fmt: skip


@pytest.mark.parametrize("unit", ["week", "month", "quarter"])
def test_the_periods_end_with_the_one_holding_t(unit: str) -> None:
    from salesengine.reports.portfolio_shape import periods_to

    t = datetime(2026, 1, 2, 12, tzinfo=UTC)  # a Friday of ISO week 2026-W01
    found = periods_to(t, unit, 3)
    assert found[-1].start <= t < found[-1].end
    assert all(a.end == b.start for a, b in pairwise(found))
    assert [p.name for p in found] == month_names(t, unit, 3)
