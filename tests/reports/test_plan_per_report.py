"""The plan per rep and per team (docs/metrics.md, "Plan per rep and per team"): each
deal counts for exactly one subject, so the subjects' figures add up to the plan's;
the pooled ideal is the plan's own; and hand-computed examples."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salesengine.reports.periods import parse_period
from salesengine.reports.plan import plan
from salesengine.reports.plan_per import Per, SubjectTarget, plans_per
from tests.reports.test_plan_report import all_facts, mixed_histories, periods
from tests.support.histories import POLICIES, Built, Step, built, instants
from tests.support.properties import examples, store_property
from tests.support.stores import fresh_db

PROPERTY = store_property(examples(20))
PERS: tuple[Per, ...] = ("owner", "team")


@PROPERTY
@given(history=mixed_histories(), data=st.data())
def test_the_subjects_plans_add_up_to_the_plan_and_the_pooled_ideal_is_the_plans(
    kind: str, tmp_path: Path, history: tuple[str, list[Step]], data: st.DataObject
) -> None:
    main, steps = history
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b:
        for _ in range(2):
            per: Per = data.draw(st.sampled_from(PERS))
            target = Decimal(data.draw(st.integers(1, 10**7)))
            period = data.draw(periods(b))
            t, k = instants(data, b)
            with b.sql.connect() as conn:
                pooled = plan(conn, POLICIES, policy=main, target=target, period=period,
                              as_of=t, known_at=k)  # fmt: skip
                own = plans_per(conn, POLICIES, per=per, policy=main, targets={},
                                period=period, as_of=t, known_at=k, given=target)  # fmt: skip
                team = plans_per(conn, POLICIES, per=per, policy=main, targets={},
                                 period=period, as_of=t, known_at=k, given=target,
                                 ideal_from="team")  # fmt: skip
            where = f"{main} {per} {period} T={t} K={k}"
            assert [p.subject for p in own] == [p.subject for p in team], where
            # Each deal counts for one subject: cohorts, advances, wins and the actual
            # funnel add up to the plan's.
            for n, row in enumerate(pooled.rows):
                assert sum(p.plan.rows[n].deals for p in own) == row.deals, where
                assert sum((p.plan.rows[n].amount for p in own), Decimal(0)) == row.amount, where
                if row.cohort is not None:
                    assert sum(p.plan.rows[n].cohort or 0 for p in own) == row.cohort, where
            assert sum(p.plan.won_deals for p in own) == pooled.won_deals, where
            assert sum((p.plan.won_amount for p in own), Decimal(0)) == pooled.won_amount, where
            # From the team's previous period, every subject's ideal funnel is the plan's.
            for p in team:
                assert [r.needed for r in p.plan.rows] == [r.needed for r in pooled.rows], where
                assert [r.conversion for r in p.plan.rows] == [r.conversion for r in pooled.rows], (
                    where
                )


# ------------------------------------------------------------------ examples

JAN = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def deal(
    key: str, owner: str, amount: int, moves: list[tuple[int, str]], opened: int
) -> list[Step]:
    """A five-level deal of ``owner`` opened on day ``opened`` of 2026, then moved."""

    def at(day: int) -> str:
        return (JAN + timedelta(days=day - 1)).isoformat()

    steps = [Step(1, {"cmd": "open", "deal": key, "policy": "five-level", "at": at(opened),
                      "owner": owner, "team": "east", "amount": str(amount),
                      "facts": all_facts("five-level")})]  # fmt: skip
    for day, move in moves:
        command: dict[str, Any] = {"deal": key, "at": at(day)}
        command.update({"cmd": move} if move in ("won", "lost") else {"cmd": "advance", "to": move})
        steps.append(Step(1, command))
    return steps


STAGES = ["contacted", "qualified", "developed", "committed"]
# Q1: Li wins A (300k) and B (500k) and loses C at identified; anna wins D (100k).
HISTORY = [
    *deal("A", "Li", 300_000, [(10 + n, s) for n, s in enumerate(STAGES)] + [(20, "won")], 5),
    *deal("B", "Li", 500_000, [(30 + n, s) for n, s in enumerate(STAGES)] + [(40, "won")], 5),
    *deal("C", "Li", 200_000, [(15, "lost")], 6),
    *deal("D", "anna", 100_000, [(40 + n, s) for n, s in enumerate(STAGES)] + [(50, "won")], 7),
    # Q2: anna's E is at identified.
    *deal("E", "anna", 400_000, [], 95),
]


@pytest.fixture
def q1(kind: str, tmp_path: Path) -> Any:
    with fresh_db(kind, tmp_path) as db, built(db, HISTORY) as b:
        assert len(b.recorded) == len(HISTORY)
        yield b


def test_each_rep_is_planned_from_their_own_quarter_for_their_remaining_quota(q1: Built) -> None:
    targets: dict[str | None, SubjectTarget] = {
        "Li": SubjectTarget(Decimal(800_000), "remaining quota"),
        "anna": SubjectTarget(None, "none", "rep anna has met the quota for 2026-Q2"),
    }
    with q1.sql.connect() as conn:
        plans = plans_per(
            conn, POLICIES, per="owner", policy="five-level", targets=targets,
            period=parse_period("2026-Q2"), as_of=JAN + timedelta(days=100),
        )  # fmt: skip
    by = {p.subject: p for p in plans}
    assert list(by) == ["Li", "anna"]
    li, anna = by["Li"].plan, by["anna"].plan
    # Li's Q1: identified 3 entered, 2 advanced; later stages 2 of 2; 2 won, 400k average.
    assert (li.won_deals, li.average_won) == (2, Decimal("400000.00"))
    assert [r.cohort for r in li.rows[:-1]] == [3, 2, 2, 2, 2]
    assert [r.needed for r in li.rows] == [3, 2, 2, 2, 2, 2]  # 800k / (400k x 2/3), / 400k
    assert all(r.deals == 0 for r in li.rows)  # nothing open nor won in Q2
    # anna has no target: her actual funnel (E) without a number needed.
    assert anna.target is None and all(r.needed is None for r in anna.rows)
    assert anna.rows[0].deals == 1 and anna.problems[0].startswith("rep anna has met")
    assert Counter(p.target_from for p in plans) == {"remaining quota": 1, "none": 1}
