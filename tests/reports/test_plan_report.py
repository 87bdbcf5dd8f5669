"""The plan read from the projections equals one computed from the raw events, and
matches hand-computed plans (docs/metrics.md, "Plan")."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salesengine.application.funnel import funnel_by_replay
from salesengine.domain.deal import Deal
from salesengine.reports.periods import Period, parse_period
from salesengine.reports.plan import Plan, plan
from tests.support.deal_events import opened_event
from tests.support.histories import POLICIES, Built, Step, built, histories, instants
from tests.support.properties import examples, store_property
from tests.support.stores import fresh_db

PROPERTY = store_property(examples(30))
OUTCOME_EVENTS = {"Won": "won", "Lost": "lost", "Abandoned": "abandoned"}
EVERYONE = "(every owner)"  # no owner is named so: the histories' owners are OWNERS


# ------------------------------------------------------------------ the oracle


def entries(deal: Deal, known_at: datetime | None) -> list[tuple[datetime, str]]:
    """The deal's stage timeline as known at K: (effective time, stage or outcome)."""
    found = []
    for e in deal.timeline:
        if not e.moves_stage or (known_at is not None and e.timestamp > known_at):
            continue
        if isinstance(e, Deal.Opened):
            stage = e.stage
        elif isinstance(e, Deal.StageAdvanced | Deal.StageRegressed | Deal.Reopened):
            stage = e.to_stage
        else:
            stage = OUTCOME_EVENTS[type(e).__name__]
        found.append((e.effective_at, stage))
    return found


def won_in(
    deal: Deal,
    timeline: list[tuple[datetime, str]],
    window: Period,
    known_at: datetime | None,
    upto: datetime | None,
    owner: str | None = EVERYONE,
) -> tuple[Decimal | None, str | None] | None:
    """(amount, currency) at the deal's last win in the window (by ``upto``), if it won
    (and was ``owner``'s then)."""
    wins = [
        at for at, stage in timeline
        if stage == "won" and window.start <= at < window.end and (upto is None or at <= upto)
    ]  # fmt: skip
    if not wins:
        return None
    state = deal.state_at(max(wins), known_at)
    if owner not in (EVERYONE, state.owner):
        return None
    return state.amount, state.currency


def replayed_plan(
    deals: list[Deal],
    name: str,
    currency: str,
    target: Decimal | None,
    period: Period,
    as_of: datetime,
    known_at: datetime | None,
    *,
    ideal_of: str | None = EVERYONE,
    actual_of: str | None = EVERYONE,
) -> dict[str, Any]:
    """The plan from the raw events, following docs/metrics.md word by word. A plan per
    rep ("Plan per rep and per team"): ``ideal_of`` the owner whose previous period it
    is planned from, each deal placed by its owner at the stage's first entry, at the
    stay's exit, at the win; ``actual_of`` the owner whose funnel at T and wins so far
    it is measured against."""

    def owned(deal: Deal, at: datetime, who: str | None) -> bool:
        return who == EVERYONE or deal.state_at(at, known_at).owner == who

    spec = POLICIES[name]
    keys = spec.stage_keys
    prev = period.previous()
    cohort: Counter[str] = Counter()
    advanced: Counter[str] = Counter()
    stays: dict[str, list[float]] = defaultdict(list)
    won_before: list[Decimal] = []
    won_now: list[Decimal] = []
    for deal in deals:
        timeline = entries(deal, known_at)
        if not timeline or opened_event(deal.timeline).policy != name:
            continue
        for stage in keys:
            first = next((n for n, (_, s) in enumerate(timeline) if s == stage), None)
            if first is None or not prev.start <= timeline[first][0] < prev.end:
                continue
            if not owned(deal, timeline[first][0], ideal_of):
                continue
            cohort[stage] += 1
            later = [s for _, s in timeline[first + 1 :]]
            if any(s == "won" or (s in keys and keys.index(s) > keys.index(stage)) for s in later):
                advanced[stage] += 1
        for (entered, stage), (left, _) in pairwise(timeline):
            if stage in keys and prev.start <= left < prev.end and owned(deal, left, ideal_of):
                stays[stage].append((left - entered).total_seconds() / 86400)
        for window, bucket, upto, who in (
            (prev, won_before, None, ideal_of),
            (period, won_now, as_of, actual_of),
        ):
            found = won_in(deal, timeline, window, known_at, upto, who)
            if (
                found is not None
                and found[0] is not None
                and (found[1] or spec.currency) == currency
            ):
                bucket.append(found[0])
    average = Fraction(sum(won_before)) / len(won_before) if sum(won_before) else None

    def needed(rate: Fraction | None) -> int | None:
        if target is None or average is None or not rate:
            return None
        return math.ceil(Fraction(target) / (average * rate))

    theirs = [d for d in deals if owned(d, as_of, actual_of)]
    actual = {
        r.stage: (r.deals, r.amount)
        for r in funnel_by_replay(theirs, POLICIES, as_of, known_at)
        if r.policy == name and r.currency == currency
    }
    rows = []
    for n, stage in enumerate(keys):
        rate: Fraction | None = Fraction(1)
        for s in keys[n:]:
            rate = (
                None if rate is None or not cohort[s] else rate * Fraction(advanced[s], cohort[s])
            )
        means = [math.fsum(stays[s]) / len(stays[s]) if stays[s] else None for s in keys[n:]]
        deals_, amount = actual.get(stage, (0, Decimal(0)))
        rows.append(
            {
                "stage": stage,
                "cohort": cohort[stage],
                "conversion": Fraction(advanced[stage], cohort[stage]) if cohort[stage] else None,
                "win_rate": rate,
                "needed": needed(rate),
                "deals": deals_,
                "amount": amount,
                "mean_days": means[0],
                "days_to_close": None if None in means else math.fsum(m or 0 for m in means),
            }
        )
    rows.append(
        {
            "stage": "won", "cohort": None, "conversion": None, "win_rate": Fraction(1),
            "needed": needed(Fraction(1)), "deals": len(won_now),
            "amount": sum(won_now, Decimal(0)), "mean_days": None, "days_to_close": 0.0,
        }
    )  # fmt: skip
    return {"won_deals": len(won_before), "won_amount": sum(won_before, Decimal(0)), "rows": rows}


def as_compared(p: Plan) -> dict[str, Any]:
    rows = []
    for r in p.rows:
        days = (
            None if r.latest_entry is None else (p.period.end - r.latest_entry) / timedelta(days=1)
        )
        rows.append(
            {
                "stage": r.stage, "cohort": r.cohort, "conversion": r.conversion,
                "win_rate": r.win_rate, "needed": r.needed, "deals": r.deals, "amount": r.amount,
                "mean_days": r.mean_days, "days_to_close": days,
            }
        )  # fmt: skip
    return {"won_deals": p.won_deals, "won_amount": p.won_amount, "rows": rows}


def approx_floats(value: dict[str, Any]) -> dict[str, Any]:
    """Days are floats; the latest-entry instant is kept to the microsecond."""
    rows = []
    for r in value["rows"]:
        rows.append(
            {
                **r,
                "mean_days": None if r["mean_days"] is None else pytest.approx(r["mean_days"]),
                "days_to_close": None
                if r["days_to_close"] is None
                else pytest.approx(r["days_to_close"], abs=1e-9 + 2 / 86400e6),
            }
        )
    return {**value, "rows": rows}


# ------------------------------------------------------------------ the property


def all_facts(name: str) -> dict[str, bool]:
    spec = POLICIES[name]
    return {c.key: True for s in spec.stages for c in s.criteria if c.source == "fact"}


@st.composite
def pipeline(draw: st.DrawFn, key: str, name: str) -> list[Step]:
    """A deal with every fact (and a live next step) that mostly moves down its funnel
    and is won, so that cohorts, wins and stage exits are common; now and then it skips,
    regresses, is lost, abandoned, reopened, re-priced or backdated."""
    stages = list(POLICIES[name].stage_keys)
    at = datetime(2026, 4, 1, 9, tzinfo=UTC) + timedelta(days=draw(st.integers(0, 75)))
    opening: dict[str, Any] = {
        "cmd": "open", "deal": key, "policy": name, "at": at, "facts": all_facts(name),
    }  # fmt: skip
    if draw(st.integers(0, 5)) < 5:  # mostly with an amount
        opening["amount"] = str(draw(st.integers(1_000, 2_000_000)))
    steps = [Step(1, opening)]
    due = (at + timedelta(days=500)).isoformat()
    steps.append(Step(0, {"cmd": "next_step", "deal": key, "at": at, "action": "call", "due": due}))
    rank, last = 0, len(stages) - 1
    for _ in range(draw(st.integers(len(stages) - 2, len(stages) + 4))):
        at += timedelta(hours=draw(st.integers(-30, 200)))
        if rank == last:
            moves = ["won"] * 4 + ["lost", "abandon", "regress", "amount"]
        else:
            moves = ["next"] * 7 + ["skip", "regress", "won", "lost", "abandon", "amount"]
        move = draw(st.sampled_from(moves))
        command: dict[str, Any] = {"deal": key, "at": at}
        if move in ("next", "skip"):
            rank = min(rank + (1 if move == "next" else 2), last)
            command.update(cmd="advance", to=stages[rank])
        elif move == "regress" and rank > 0:
            rank = draw(st.integers(0, rank - 1))
            command.update(cmd="regress", to=stages[rank], reason="re-qualify")
        elif move == "amount":
            command.update(cmd="amount", amount=str(draw(st.integers(0, 2_000_000))))
        elif move in ("won", "lost", "abandon"):
            command["cmd"] = move
        else:
            continue
        steps.append(Step(draw(st.sampled_from([0, 1, 60])), command))
        if move in ("lost", "abandon") and draw(st.booleans()):
            rank = draw(st.integers(0, last))
            at += timedelta(hours=draw(st.integers(1, 300)))
            reopen = {"cmd": "reopen", "deal": key, "at": at, "to": stages[rank]}
            steps.append(Step(1, reopen))
        elif move in ("won", "lost", "abandon"):
            break
    return steps


@st.composite
def mixed_histories(draw: st.DrawFn) -> tuple[str, list[Step]]:
    """The shared random histories, then deals of one policy moving down its funnel (so
    that its every stage has a cohort); that policy is returned with the steps."""
    steps = list(draw(histories(max_deals=2)))
    main = draw(st.sampled_from(sorted(POLICIES)))
    for n in range(draw(st.integers(3, 10))):
        steps += draw(pipeline(f"run-{n}", main))
    return main, steps


# The deals moving down their funnels live from April to about August 2026.
CALENDAR = ["2026", "2027", "2026-Q2", "2026-Q3", "2026-Q3", "2026-Q3", "2026-06", "2026-07",
            "2026-W24"]  # fmt: skip


@st.composite
def periods(draw: st.DrawFn, b: Built) -> Period:
    """Calendar periods, and ranges whose previous period often spans most of the history."""
    if draw(st.booleans()):
        return parse_period(draw(st.sampled_from(CALENDAR)))
    times = b.effective_times() or [datetime(2026, 4, 1, tzinfo=UTC)]
    start = draw(st.sampled_from(times[len(times) // 2 :])) + timedelta(
        days=draw(st.integers(-20, 60))
    )
    days = draw(st.one_of(st.integers(1, 60), st.integers(100, 300)))
    length = timedelta(days=days, hours=draw(st.sampled_from([0, 7])))
    return parse_period(f"{start.isoformat()}..{(start + length).isoformat()}")


@PROPERTY
@given(history=mixed_histories(), data=st.data())
def test_the_plan_equals_one_replayed_from_the_raw_events(
    kind: str, tmp_path: Path, history: tuple[str, list[Step]], data: st.DataObject
) -> None:
    main, steps = history
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b:
        deals = b.deals()
        for _ in range(3):
            name = data.draw(st.sampled_from([main, main, main, *sorted(POLICIES)]))
            currency = data.draw(st.sampled_from(["CNY", "CNY", "CNY", "USD"]))
            target = Decimal(data.draw(st.one_of(st.integers(1, 10**4), st.integers(1, 10**9))))
            period = data.draw(periods(b))
            t, k = instants(data, b)
            if data.draw(st.booleans()):  # T inside the period: some deals won so far
                t = period.start + (period.end - period.start) * data.draw(st.floats(0, 1))
            if data.draw(st.booleans()):
                k = None
            with b.sql.connect() as conn:
                got = plan(
                    conn, POLICIES, policy=name, target=target, period=period, as_of=t,
                    known_at=k, currency=currency,
                )  # fmt: skip
            expected = replayed_plan(deals, name, currency, target, period, t, k)
            assert as_compared(got) == approx_floats(expected), f"{name} {period} T={t} K={k}"


# ------------------------------------------------------------------ examples

JAN = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def at(day: int) -> datetime:
    """Day ``day`` of 2026 (1 = 1 January) at 09:00 UTC."""
    return JAN + timedelta(days=day - 1)


def deal(key: str, amount: int, moves: list[tuple[int, str]], opened: int) -> list[Step]:
    """A five-level deal opened on day ``opened`` with every fact, then moved as listed."""
    opening = {
        "cmd": "open", "deal": key, "policy": "five-level", "at": at(opened),
        "amount": str(amount), "facts": all_facts("five-level"),
    }  # fmt: skip
    steps = [Step(1, opening)]
    for day, move in moves:
        command: dict[str, Any] = {"deal": key, "at": at(day)}
        if move in ("won", "lost"):
            command["cmd"] = "won" if move == "won" else "lost"
        else:
            command.update(cmd="advance", to=move)
        steps.append(Step(1, command))
    return steps


# Q1 2026: A and B go the whole way and win, C is lost from contacted, D stays.
# Day 1 = 1 January; 31 + 28 days to 1 March (day 60), 4 April is day 94.
Q1_HISTORY = [
    *deal("A", 300_000, [(15, "contacted"), (25, "qualified"), (35, "developed"),
                         (45, "committed"), (55, "won")], opened=5),
    *deal("B", 500_000, [(20, "contacted"), (32, "qualified"), (42, "developed"),
                         (52, "committed"), (62, "won")], opened=10),
    *deal("C", 200_000, [(22, "contacted"), (36, "lost")], opened=12),
    *deal("D", 100_000, [], opened=32),
    # Q2 so far: E reaches contacted, F is won on day 100.
    *deal("E", 250_000, [(95, "contacted")], opened=92),
    *deal("F", 600_000, [(100, "won")], opened=93),
]  # fmt: skip


@pytest.fixture
def q1(kind: str, tmp_path: Path) -> Iterator[Built]:
    with fresh_db(kind, tmp_path) as db, built(db, Q1_HISTORY) as b:
        assert len(b.recorded) == len(Q1_HISTORY), "every command of the example applies"
        yield b


def test_given_last_quarter_when_planning_this_one_then_the_funnel_is_reverse_calculated(
    q1: Built,
) -> None:
    with q1.sql.connect() as conn:
        p = plan(
            conn, POLICIES, policy="five-level", target=Decimal(1_000_000),
            period=parse_period("2026-Q2"), as_of=at(105),
        )  # fmt: skip
    rows = {r.stage: r for r in p.rows}
    # Cohorts: identified A B C D, 3 advanced; contacted A B C, 2 advanced; then A B.
    assert [(r.stage, r.cohort, r.conversion) for r in p.rows[:-1]] == [
        ("identified", 4, Fraction(3, 4)),
        ("contacted", 3, Fraction(2, 3)),
        ("qualified", 2, Fraction(1)),
        ("developed", 2, Fraction(1)),
        ("committed", 2, Fraction(1)),
    ]
    assert rows["identified"].win_rate == Fraction(1, 2)
    assert rows["contacted"].win_rate == Fraction(2, 3)
    # Average won deal: (300k + 500k) / 2 = 400k; 1M / 400k = 2.5 -> 3 wins.
    assert (p.won_deals, p.average_won) == (2, Decimal("400000.00"))
    assert [r.needed for r in p.rows] == [5, 4, 3, 3, 3, 3]  # 1M/(400k x 1/2), 1M/(400k x 2/3)
    # Mean days: identified 10, 10, 10; contacted 10, 12, 14; later stages 10 each.
    assert [r.mean_days for r in p.rows[:-1]] == pytest.approx([10, 12, 10, 10, 10])
    end = datetime(2026, 7, 1, tzinfo=UTC)
    assert [r.latest_entry for r in p.rows] == [
        end - timedelta(days=52), end - timedelta(days=42), end - timedelta(days=30),
        end - timedelta(days=20), end - timedelta(days=10), end,
    ]  # fmt: skip
    # Actual on day 105: D at identified, E at contacted; F won in Q2 (A and B won in Q1).
    assert [(r.stage, r.deals, r.amount, r.gap) for r in p.rows] == [
        ("identified", 1, Decimal(100_000), -4),
        ("contacted", 1, Decimal(250_000), -3),
        ("qualified", 0, Decimal(0), -3),
        ("developed", 0, Decimal(0), -3),
        ("committed", 0, Decimal(0), -3),
        ("won", 1, Decimal(600_000), -2),
    ]
    assert p.problems == ()


def test_given_the_win_is_after_t_then_it_is_not_yet_won_so_far(q1: Built) -> None:
    with q1.sql.connect() as conn:
        p = plan(
            conn, POLICIES, policy="five-level", target=Decimal(1), period=parse_period("2026-Q2"),
            as_of=at(99),
        )  # fmt: skip
    assert (p.rows[-1].deals, p.rows[-1].amount) == (0, Decimal(0))
    assert p.rows[-1].needed == 1  # any won deal of 400k covers a target of 1


def test_given_no_won_deals_last_period_then_the_plan_says_why_instead_of_dividing_by_zero(
    q1: Built,
) -> None:
    with q1.sql.connect() as conn:
        p = plan(
            conn, POLICIES, policy="five-level", target=Decimal(500_000),
            period=parse_period("2026-Q1"), as_of=at(80),
        )  # fmt: skip
    assert p.previous.name == "2025-Q4"
    assert p.won_deals == 0 and p.average_won is None
    assert all(r.needed is None and r.gap is None for r in p.rows)
    assert all(r.conversion is None and r.latest_entry is None for r in p.rows[:-1])
    assert any("no average deal size" in why for why in p.problems)
    assert any("conversion unknown" in why and "identified" in why for why in p.problems)
    assert any("time in stage unknown" in why for why in p.problems)
    # The actual funnel is still there.
    assert p.rows[0].deals == 1  # D, opened on day 32
    assert p.rows[-1].deals == 2  # A and B won in Q1 by day 80


def test_given_a_stage_nobody_left_then_only_its_deals_needed_remain_known(
    kind: str, tmp_path: Path
) -> None:
    # One deal won from identified in December: identified converts, no later stage has a
    # cohort, so the win rate from identified is unknown while the won row is not.
    steps = deal("X", 80_000, [(-10, "won")], opened=-20)
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b, b.sql.connect() as conn:
        p = plan(
            conn, POLICIES, policy="five-level", target=Decimal(200_000),
            period=parse_period("2026-01"), as_of=at(3),
        )  # fmt: skip
    assert p.previous.name == "2025-12"
    assert p.rows[0].conversion == 1 and p.rows[0].win_rate is None
    assert p.rows[-1].needed == 3  # 200k / 80k = 2.5
    assert any("no deal entered contacted, qualified" in why for why in p.problems)


def test_a_zero_conversion_means_no_number_rather_than_a_division_error(
    kind: str, tmp_path: Path
) -> None:
    # W skips contacted on its way to won; L enters contacted and is lost: contacted
    # converts 0 of 1, so no number of deals at identified or contacted reaches the target.
    steps = [
        *deal("W", 100_000, [(-25, "qualified"), (-20, "developed"), (-15, "committed"),
                             (-10, "won")], opened=-30),
        *deal("L", 100_000, [(-25, "contacted"), (-20, "lost")], opened=-30),
    ]  # fmt: skip
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b, b.sql.connect() as conn:
        p = plan(
            conn, POLICIES, policy="five-level", target=Decimal(150_000),
            period=parse_period("2026-01"), as_of=at(3),
        )  # fmt: skip
    # Conversions and win rates are fractions, equal to the whole numbers they are here.
    rows: list[tuple[str, object, object, int | None]] = [
        (r.stage, r.conversion, r.win_rate, r.needed) for r in p.rows
    ]
    assert rows == [
        ("identified", 1, 0, None),  # both advanced (L reached contacted)
        ("contacted", 0, 0, None),
        ("qualified", 1, 1, 2),  # 150k / 100k = 1.5
        ("developed", 1, 1, 2),
        ("committed", 1, 1, 2),
        ("won", None, 1, 2),
    ]
    assert p.problems == ("no deal that entered contacted in 2025-12 advanced",)


def test_won_deals_worth_nothing_give_no_average_to_divide_by(kind: str, tmp_path: Path) -> None:
    steps = deal("Z", 0, [(-10, "won")], opened=-20)
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b, b.sql.connect() as conn:
        p = plan(
            conn, POLICIES, policy="five-level", target=Decimal(1), period=parse_period("2026-01"),
            as_of=at(3),
        )  # fmt: skip
    assert (p.won_deals, p.average_won) == (1, Decimal(0))
    assert all(r.needed is None for r in p.rows)
    assert p.problems[0] == "the five-level deals won in 2025-12 total 0 CNY: nothing to plan from"


def test_the_target_must_be_positive(q1: Built) -> None:
    with q1.sql.connect() as conn, pytest.raises(ValueError, match="positive"):
        plan(
            conn, POLICIES, policy="five-level", target=Decimal(0), period=parse_period("2026"),
            as_of=at(1),
        )  # fmt: skip


# ------------------------------------------------------------------ periods


@pytest.mark.parametrize(
    ("text", "start", "end", "previous"),
    [
        ("2026", "2026-01-01", "2027-01-01", ("2025", "2025-01-01", "2026-01-01")),
        ("2026-Q1", "2026-01-01", "2026-04-01", ("2025-Q4", "2025-10-01", "2026-01-01")),
        ("2026-q4", "2026-10-01", "2027-01-01", ("2026-Q3", "2026-07-01", "2026-10-01")),
        ("2026-03", "2026-03-01", "2026-04-01", ("2026-02", "2026-02-01", "2026-03-01")),
        ("2026-01", "2026-01-01", "2026-02-01", ("2025-12", "2025-12-01", "2026-01-01")),
        ("2026-W01", "2025-12-29", "2026-01-05", ("2025-W52", "2025-12-22", "2025-12-29")),
        (
            "2026-04-01..2026-04-11",
            "2026-04-01",
            "2026-04-11",
            ("2026-03-22..2026-04-01", "2026-03-22", "2026-04-01"),
        ),
    ],
)
def test_periods_and_the_period_before(
    text: str, start: str, end: str, previous: tuple[str, str, str]
) -> None:
    def day(value: str) -> datetime:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)

    p = parse_period(text)
    assert (p.start, p.end) == (day(start), day(end))
    before = p.previous()
    assert (before.name, before.start, before.end) == (
        previous[0],
        day(previous[1]),
        day(previous[2]),
    )


def test_an_explicit_range_may_use_instants_with_an_offset() -> None:
    p = parse_period("2026-04-01T08:00:00+08:00..2026-04-02T08:00:00+08:00")
    assert p.start == datetime(2026, 4, 1, 0, 0, tzinfo=UTC)
    assert p.previous().start == datetime(2026, 3, 31, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    ["2026-Q5", "2026-13", "26", "next quarter", "2026-W54", "2026-04-01..2026-04-01",
     "2026-04-01..2026-03-01", "2026-04-01T00:00..2026-05-01", "2026-02-30..2026-03-01"],
)  # fmt: skip
def test_bad_periods_are_refused_with_the_reason(text: str) -> None:
    with pytest.raises(ValueError, match=r"'|period"):
        parse_period(text)


def test_given_no_target_when_last_period_had_wins_then_no_note_says_they_total_zero() -> None:
    from salesengine.reports.plan import PlanFigures, plan_from

    figures = PlanFigures(
        cohorts={"identified": (4, 3)}, stays={}, actual={},
        won_before=(2, Decimal(534_000)), won_now=(0, Decimal(0)),
    )  # fmt: skip
    spec = POLICIES["five-level"]
    asked = {"currency": "CNY", "period": parse_period("2026-Q4"), "as_of": at(3), "known_at": None}
    without = plan_from(figures, spec, target=None, **asked)  # type: ignore[arg-type]
    assert (without.won_deals, without.average_won) == (2, Decimal("267000.00"))
    assert not any("nothing to plan from" in why for why in without.problems), without.problems
    # With a target the same figures plan a won row: no such note either.
    given = plan_from(figures, spec, target=Decimal(1_000_000), **asked)  # type: ignore[arg-type]
    assert given.rows[-1].needed == 4
    assert not any("nothing to plan from" in why for why in given.problems)
