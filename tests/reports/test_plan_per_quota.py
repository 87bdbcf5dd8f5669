"""The plan per rep for each rep's remaining quota (docs/metrics.md, "Plan per rep and
per team") equals one computed from the raw events of deals and quotas, and the wins
the quota was reduced by are not counted again in the reverse calculation."""

from __future__ import annotations

import contextlib
import math
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from salesengine.application.quota_commands import parse_quota_command
from salesengine.application.quotas import Quotas
from salesengine.domain.deal import Deal
from salesengine.domain.errors import SalesEngineError
from salesengine.domain.quota import QuotaPeriod
from salesengine.domain.values import Status
from salesengine.reports.periods import Period, parse_period
from salesengine.reports.plan_per import IdealFrom, SubjectPlan, plans_per, remaining_targets
from salesengine.reports.vvalue import vvalue
from tests.reports.test_plan_per_report import HISTORY, JAN, deal
from tests.reports.test_plan_report import (
    EVERYONE,
    approx_floats,
    as_compared,
    mixed_histories,
    pipeline,
    replayed_plan,
)
from tests.reports.test_vvalue_report import replayed_figures, replayed_quotas
from tests.support.histories import OWNERS, POLICIES, TEAMS, Built, Step, instants
from tests.support.properties import examples, store_property
from tests.support.quota_histories import PERIODS, built_with_quotas, quota_commands
from tests.support.stores import fresh_db

PROPERTY = store_property(examples(25))
# Periods the plan's deals (opened from April 2026, won weeks later) are won in, after a
# period they are won in too.
BUSY = ("2026-05", "2026-06", "2026-Q3")
ZERO = Decimal(0)


def plan_for_remaining_quotas(
    b: Built,
    quotas: Quotas,
    policy: str,
    period: Period,
    t: datetime,
    k: datetime | None,
    ideal_from: IdealFrom = "own",
) -> list[SubjectPlan]:
    """``plan --per rep`` without a target: the V value's remaining quotas, planned."""
    currency = POLICIES[policy].currency
    figures = quotas.figures(period.name, t, k)
    with b.sql.connect() as conn:
        v = vvalue(conn, POLICIES, figures, period=period, as_of=t, known_at=k, kind="rep")
        return plans_per(
            conn, POLICIES, per="owner", policy=policy, period=period, as_of=t, known_at=k,
            targets=remaining_targets(v, currency, "rep"), currency=currency,
            ideal_from=ideal_from,
        )  # fmt: skip


# ------------------------------------------------------------------ the oracle


def won_toward_quota(
    deals: list[Deal], owner: str | None, currency: str, period: Period, t: datetime,
    k: datetime | None,
) -> tuple[int, Decimal]:  # fmt: skip
    """The V value's won of a rep: deals won at T with the win in the period, the rep's
    at T, in the currency, at their amount at T (0 without one), of any policy."""
    count, amount = 0, ZERO
    for d in deals:
        s = d.state_at(t, k)
        if (
            s.status is Status.WON
            and s.closed_at is not None
            and period.start <= s.closed_at < period.end
            and s.owner == owner
            and (s.currency or POLICIES[s.policy].currency) == currency
        ):
            count, amount = count + 1, amount + (s.amount or ZERO)
    return count, amount


def replayed_per_rep(
    b: Built, policy: str, period: Period, t: datetime, k: datetime | None, rep: str | None,
    ideal_from: IdealFrom,
) -> dict[str, Any]:  # fmt: skip
    """A rep's plan for their remaining quota, from the raw events: the quota folded from
    its events, the wins it is reduced by, and the reverse calculation of the rest."""
    deals = b.deals()
    currency = POLICIES[policy].currency
    streams = replayed_quotas(b.engine, period.start.year, t, k)
    quota, _ = replayed_figures(streams, QuotaPeriod.parse(period.name).name).get(
        ("rep", rep, currency), (None, "none")
    )
    won = won_toward_quota(deals, rep, currency, period, t, k)
    remaining = None if quota is None else max(quota - won[1], ZERO)
    target = remaining or None  # none without a quota, none when it is met
    ideal_of = rep if ideal_from == "own" else EVERYONE
    plan = replayed_plan(deals, policy, currency, target, period, t, k, ideal_of=ideal_of,
                         actual_of=rep)  # fmt: skip
    if quota is not None:
        # The won row: the wins the quota was reduced by, and the wins the period needs
        # in all, those and the ones the remaining quota still needs.
        rows = plan["rows"]
        average = Fraction(plan["won_amount"]) / plan["won_deals"] if plan["won_amount"] else None
        still = None if target is None or average is None else math.ceil(Fraction(target) / average)
        rows[-1] = rows[-1] | {
            "deals": won[0],
            "amount": won[1],
            "needed": None if still is None else won[0] + still,
        }
    return {"target": target, "quota": quota, "won": won, **plan}


# ------------------------------------------------------------------ the property


def periods_of(at: datetime) -> tuple[Period, Period]:
    """The month and the quarter of an instant."""
    return (
        parse_period(f"{at.year}-{at.month:02d}"),
        parse_period(f"{at.year}-Q{(at.month - 1) // 3 + 1}"),
    )


@st.composite
def owned_histories_with_quotas(draw: st.DrawFn) -> tuple[str, list[Step]]:
    """The plan's histories (deals of one policy moving down its funnel) with owners and
    owner changes, and quota commands for those owners, in a random recording order."""
    main, steps = draw(mixed_histories())
    for n in range(draw(st.integers(4, 10))):  # more of them, so that reps win in a month
        steps += draw(pipeline(f"run-more-{n}", main))
    owned: list[Step] = []
    for step in steps:
        c = step.command
        if str(c.get("deal", "")).startswith("run-"):
            if c["cmd"] == "open":
                who = draw(st.sampled_from([*OWNERS, OWNERS[0], OWNERS[0], None]))
                c = c | {"team": draw(st.sampled_from(TEAMS))} | ({"owner": who} if who else {})
            elif draw(st.integers(0, 12)) == 0:
                change = {"cmd": "owner", "deal": c["deal"], "at": c["at"],
                          "owner": draw(st.sampled_from(OWNERS))}  # fmt: skip
                owned.append(Step(draw(st.sampled_from([0, 1])), change))
        owned.append(Step(step.tick_minutes, c))
    # Yearly quotas of the owners in the policy's currency (recorded first, so that
    # they set it), broken into the months or quarters the deals are won in, each part
    # sized like a few of their deals; and the shared quota commands.
    commands = draw(quota_commands())
    for rep in [rep for rep in OWNERS if draw(st.integers(0, 3))]:
        owned.insert(0, Step(0, {
            "cmd": "set_quota", "rep": rep, "period": "2026",
            "split": draw(st.sampled_from(["monthly", "monthly", "quarterly"])),
            "amount": str(12 * draw(st.sampled_from([1, 800_000, 3_000_000, 20_000_000]))),
            "currency": POLICIES[main].currency, "at": "2026-01-01T00:00:00+00:00",
        }))  # fmt: skip
    for command in commands:
        where = draw(st.integers(0, len(owned)))
        owned.insert(where, Step(draw(st.sampled_from([0, 1, 60])), command))
    return main, owned


def where_a_rep_won(
    data: st.DataObject, b: Built, quotas: Quotas, main: str
) -> tuple[Period, datetime] | None:
    """Now and then, the month or quarter of a win of the policy (after one with wins,
    where there is such, for an average won deal to plan from), an instant after the win,
    and the winner's quota for it recorded (refused when its year is in another currency)."""
    won = [(e.effective_at, d.state_at(e.effective_at).owner) for d in b.deals()
           if d.state.policy == main for e in d.timeline if isinstance(e, Deal.Won)]  # fmt: skip
    if not won or not data.draw(st.integers(0, 3)):
        return None

    def after_wins(p: Period) -> bool:
        return any(p.previous().start <= at < p.previous().end for at, _ in won)

    followed = [(at, who) for at, who in won if any(map(after_wins, periods_of(at)))]
    after_a_won_period = data.draw(st.integers(0, 3)) > 0
    if followed and after_a_won_period:
        won_at, winner = data.draw(st.sampled_from(followed))
        period = next(p for p in periods_of(won_at) if after_wins(p))
    else:
        won_at, winner = data.draw(st.sampled_from(won))
        period = data.draw(st.sampled_from(periods_of(won_at)))
    if winner is not None and data.draw(st.integers(0, 2)):
        amount = data.draw(st.sampled_from(["1", "900000", "3000000", "20000000"]))
        command = {"cmd": "set_quota", "rep": winner, "period": period.name, "amount": amount,
                   "currency": POLICIES[main].currency, "at": period.start.isoformat()}  # fmt: skip
        with contextlib.suppress(SalesEngineError):
            quotas.execute(parse_quota_command(command))
    return period, won_at + (period.end - won_at) * data.draw(st.floats(0, 1))


@PROPERTY
@given(history=owned_histories_with_quotas(), data=st.data())
def test_each_reps_plan_for_the_remaining_quota_equals_a_replay_of_the_raw_events(
    kind: str, tmp_path: Path, history: tuple[str, list[Step]], data: st.DataObject
) -> None:
    main, steps = history
    with fresh_db(kind, tmp_path) as db, built_with_quotas(db, steps) as (b, quotas, times):
        for _ in range(2):
            period = parse_period(data.draw(st.sampled_from([*PERIODS, *BUSY])))
            t, k = instants(data, b)
            if data.draw(st.booleans()):
                k = None
            if data.draw(st.booleans()):  # T inside the period: some deals won so far
                t = period.start + (period.end - period.start) * data.draw(st.floats(0, 1))
            elif data.draw(st.booleans()):  # the period as it ended
                t = period.end
            if times and data.draw(st.integers(0, 7)) == 0:  # at a quota's change
                t = data.draw(st.sampled_from(times))
            period, t = where_a_rep_won(data, b, quotas, main) or (period, t)
            ideal_from: IdealFrom = data.draw(st.sampled_from(["own", "team", "team"]))
            plans = plan_for_remaining_quotas(b, quotas, main, period, t, k, ideal_from)
            where = f"{main} {period.name} T={t} K={k} {ideal_from}"
            for p in plans:
                expected = replayed_per_rep(b, main, period, t, k, p.subject, ideal_from)
                assert p.plan.target == expected["target"], f"{where} {p.subject}"
                compared = {k_: v for k_, v in expected.items() if k_ in ("won_deals",
                            "won_amount", "rows")}  # fmt: skip
                assert as_compared(p.plan) == approx_floats(compared), f"{where} {p.subject}"
                if expected["target"] is not None and expected["won"][0] and expected["won_amount"]:
                    event("a rep planned for what remains after wins in the period")
                if expected["quota"] is not None and expected["target"] is not None:
                    # What is won and what remains make the quota, each counted once.
                    won = p.plan.rows[-1]
                    assert won.amount + p.plan.target == expected["quota"], where
            # Every rep with a quota in the plan's currency is planned.
            currency = POLICIES[main].currency
            streams = replayed_quotas(b.engine, period.start.year, t, k)
            figures = replayed_figures(streams, QuotaPeriod.parse(period.name).name)
            with_quota = {s for (kd, s, c), (q, _) in figures.items()
                          if kd == "rep" and c == currency and q is not None}  # fmt: skip
            assert with_quota <= {p.subject for p in plans}, where


# ------------------------------------------------------------------ an example


def test_given_wins_in_the_period_then_they_reduce_the_quota_and_are_not_needed_again(
    kind: str, tmp_path: Path
) -> None:
    # Given Li's Q1 (A 300k and B 500k won: 400k on average; identified converts 2 of 3),
    # Li's G (400k) won in Q2 on day 100, and Li's Q2 quota of 1.2M:
    won_in_q2 = deal("G", "Li", 400_000, [(96, "contacted"), (97, "qualified"),
                                          (98, "developed"), (99, "committed"), (100, "won")],
                     92)  # fmt: skip
    quota = {"cmd": "set_quota", "rep": "Li", "period": "2026-Q2", "amount": "1200000",
             "currency": "CNY", "at": "2026-01-01T00:00:00+00:00"}  # fmt: skip
    steps = [*HISTORY, *won_in_q2, Step(1, quota)]
    with fresh_db(kind, tmp_path) as db, built_with_quotas(db, steps) as (b, quotas, _):
        assert len(b.recorded) == len(steps)
        # When Li's plan for Q2 is read on day 105
        plans = plan_for_remaining_quotas(
            b, quotas, "five-level", parse_period("2026-Q2"), JAN + timedelta(days=104), None
        )
    li = next(p for p in plans if p.subject == "Li")
    # Then 800k remains: 2 more wins of 400k, from 3 deals at identified;
    assert (li.target_from, li.plan.target) == ("remaining quota", Decimal(800_000))
    assert [r.needed for r in li.plan.rows[:-1]] == [3, 2, 2, 2, 2]
    # and the won row holds G, among the 3 wins the quarter needs in all: 2 short, not 1.
    won = li.plan.rows[-1]
    assert (won.deals, won.amount, won.needed, won.gap) == (1, Decimal(400_000), 3, -2)
    assert (li.as_dict()["quota"], li.as_dict()["won_toward_quota"]) == (
        Decimal(1_200_000),
        {"deals": 1, "amount": Decimal(400_000)},
    )
