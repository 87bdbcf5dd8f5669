"""Each rep's funnel against the ideal the plan reverse-calculates from the rep's target
(docs/metrics.md, "Rep evaluation"), worked out by hand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from salesengine.application.quota_figures import QuotaFigure
from salesengine.reports.open_deals import Only
from salesengine.reports.periods import parse_period
from salesengine.reports.portfolio_deals import Selection
from salesengine.reports.portfolio_reps import RepsReport, evaluate_reps, quota_targets
from tests.support.histories import POLICIES, Built, Step, built
from tests.support.stores import fresh_db

JAN = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
STAGES = ("identified", "contacted", "qualified", "developed", "committed")


def at(day: int) -> datetime:
    """Day ``day`` of 2026 (1 = 1 January) at 09:00 UTC; 1 April is day 91."""
    return JAN + timedelta(days=day - 1)


def deal(
    key: str, owner: str, amount: int, opened: int, moves: list[tuple[int, str]]
) -> list[Step]:
    spec = POLICIES["five-level"]
    facts = {c.key: True for s in spec.stages for c in s.criteria if c.source == "fact"}
    opening: dict[str, Any] = {
        "cmd": "open", "deal": key, "policy": "five-level", "at": at(opened), "owner": owner,
        "team": "east", "amount": str(amount), "facts": facts,
    }  # fmt: skip
    steps = [Step(1, opening)]
    for day, move in moves:
        command: dict[str, Any] = {"deal": key, "at": at(day)}
        if move in ("won", "lost"):
            command["cmd"] = move
        else:
            command.update(cmd="advance", to=move)
        steps.append(Step(1, command))
    return steps


def through(*days: int) -> list[tuple[int, str]]:
    """Contacted to committed on the given days, then won on the last."""
    return list(zip(days, (*STAGES[1:], "won"), strict=True))


# Q1: Ann wins A (300k) and loses C, Bo wins B (500k) and holds D; the plan's Q1 has
# conversion 3/4, 2/3, 1, 1, 1 (win rates from identified 1/2, from contacted 2/3) and an
# average won deal of 400k. Q2 so far: Ann's E is contacted, Bo's F is won.
HISTORY = [
    *deal("A", "Ann", 300_000, 5, through(15, 25, 35, 45, 55)),
    *deal("B", "Bo", 500_000, 10, through(20, 32, 42, 52, 62)),
    *deal("C", "Ann", 200_000, 12, [(22, "contacted"), (36, "lost")]),
    *deal("D", "Bo", 100_000, 32, []),
    *deal("E", "Ann", 250_000, 92, [(95, "contacted")]),
    *deal("F", "Bo", 600_000, 93, [(100, "won")]),
]


@pytest.fixture
def store(kind: str, tmp_path: Path) -> Iterator[Built]:
    with fresh_db(kind, tmp_path) as db, built(db, HISTORY) as b:
        assert len(b.recorded) == len(HISTORY), "every command of the example applies"
        yield b


def evaluate(b: Built, **options: Any) -> RepsReport:
    with b.sql.connect() as conn:
        return evaluate_reps(
            conn, POLICIES, Selection("five-level", **options.pop("selection", {})),
            as_of=at(105), period=parse_period("2026-Q2"), **options,
        )  # fmt: skip


def test_given_last_quarters_wins_each_rep_is_held_to_repeating_them(store: Built) -> None:
    result = evaluate(store)
    ann, bo = result.reps
    # Ann won 300k: ceil(300k / (400k x 1/2)) = 2 at identified, ceil(1.125) = 2 at
    # contacted, ceil(0.75) = 1 after; she holds E at contacted and won nothing in Q2.
    assert (ann.rep, ann.target, ann.target_from) == ("Ann", Decimal(300_000), "previous period")
    assert [(s.stage, s.deals, s.needed) for s in ann.stages] == [
        ("identified", 0, 2), ("contacted", 1, 2), ("qualified", 0, 1), ("developed", 0, 1),
        ("committed", 0, 1), ("won", 0, 1),
    ]  # fmt: skip
    assert ann.fill == pytest.approx((0 + 1 / 2 + 0 + 0 + 0) / 5)
    assert ann.short == 6
    # Bo won 500k: 3, 2, then 2 a stage; he holds D, and F won in Q2 counts at won.
    assert [(s.deals, s.needed) for s in bo.stages] == [(1, 3), (0, 2), (0, 2), (0, 2), (0, 2),
                                                       (1, 2)]  # fmt: skip
    assert bo.stages[-1].amount == Decimal(600_000)
    assert bo.fill == pytest.approx((1 / 3) / 5)
    assert bo.short == 10


def test_given_one_target_for_all_then_each_rep_needs_the_plans_funnel(store: Built) -> None:
    result = evaluate(store, target=Decimal(1_000_000))
    for rep in result.reps:
        assert rep.target_from == "given"
        assert [s.needed for s in rep.stages] == [5, 4, 3, 3, 3, 3]  # as the plan's own


def test_targets_given_per_rep_come_first_and_a_rep_kept_out_is_not_listed(store: Built) -> None:
    result = evaluate(store, targets={"Bo": Decimal(400_000)}, selection={"only": Only(owner="Bo")})
    (bo,) = result.reps
    assert (bo.rep, bo.target, bo.target_from) == ("Bo", Decimal(400_000), "quota")
    assert [s.needed for s in bo.stages] == [2, 2, 1, 1, 1, 1]


def test_given_quotas_then_each_rep_with_one_is_held_to_it_and_the_others_to_last_period(
    store: Built,
) -> None:
    # Given Q2 quotas: Bo 800k in CNY, Cy 400k (no deals at all), Ann's in USD; and a team's.
    figures = [
        QuotaFigure("rep", "Bo", "2026-Q2", "CNY", Decimal(800_000), "own"),
        QuotaFigure("rep", "Cy", "2026-Q2", "CNY", Decimal(400_000), "own"),
        QuotaFigure("rep", "Ann", "2026-Q2", "USD", Decimal(50_000), "own"),
        QuotaFigure("rep", "Di", "2026-Q2", "CNY", None, "none"),
        QuotaFigure("team", "east", "2026-Q2", "CNY", Decimal(9_000_000), "own"),
    ]
    targets, notes = quota_targets(figures, "CNY")
    assert targets == {"Bo": Decimal(800_000), "Cy": Decimal(400_000)}
    assert notes == ("rep Ann's quota for 2026-Q2 is in USD, the evaluation in CNY: judged on "
                     "the previous period instead",)  # fmt: skip
    # When the reps are evaluated against them
    ann, bo, cy = evaluate(store, targets=targets).reps
    # Then Bo's ideal is his quota's: 800k / (400k x 1/2) = 4 at identified, 3 at
    # contacted, 2 after, 2 wins; F (won in Q2) is one of them.
    assert (bo.target, bo.target_from) == (Decimal(800_000), "quota")
    assert [(s.deals, s.needed) for s in bo.stages] == [(1, 4), (0, 3), (0, 2), (0, 2), (0, 2),
                                                       (1, 2)]  # fmt: skip
    # Cy, with a quota and an empty funnel, is listed short of all of it (400k: 2, 2,
    # then 1 a stage);
    assert (cy.target_from, cy.fill, cy.short) == ("quota", 0.0, 2 + 2 + 1 + 1 + 1)
    # Ann, without a quota in CNY, is held to repeating her previous quarter.
    assert (ann.target, ann.target_from) == (Decimal(300_000), "previous period")
    # Under a team, the reps are the team's deals' (Cy has none).
    assert [
        r.rep for r in evaluate(store, targets=targets, selection={"only": Only(team="east")}).reps
    ] == ["Ann", "Bo"]
    # A quota of 0 asks for nothing: no deal needed, no score.
    (zero,) = evaluate(store, targets={"Bo": Decimal(0)},
                       selection={"only": Only(owner="Bo")}).reps  # fmt: skip
    assert zero.target_from == "quota" and {s.needed for s in zero.stages} == {0}
    assert zero.fill is None


def test_a_rep_without_a_target_has_no_ideal_and_no_score(store: Built) -> None:
    with store.sql.connect() as conn:
        result = evaluate_reps(
            conn, POLICIES, Selection("five-level"), as_of=at(105),
            period=parse_period("2026-Q1"),
        )  # fmt: skip
    # Planned from Q4 2025: nobody won anything then.
    assert all(r.target is None and r.fill is None and r.short is None for r in result.reps)
    assert all(s.needed is None for r in result.reps for s in r.stages)
