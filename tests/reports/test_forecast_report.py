"""The forecast read from the projections equals a replay of the raw events."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salesengine.domain.deal import Deal
from salesengine.domain.values import Status
from salesengine.reports.forecast import Forecast, OutsideRow, WeekRow, forecast
from salesengine.reports.open_deals import Only
from salesengine.reports.size_bands import Banding
from tests.support.busy_histories import busy_histories
from tests.support.clock import T0
from tests.support.commands import FIVE_LEVEL_OPENING, cmd
from tests.support.histories import OWNERS, POLICIES, VERSIONS, Step, built, with_edits
from tests.support.properties import examples, store_property
from tests.support.report_examples import CONTACTED
from tests.support.report_queries import instant_query, instant_report
from tests.support.stores import fresh_db, store_with_read_models
from tests.support.timelines import group_rank

PROPERTY = store_property(examples(40))
Sums = tuple[int, Decimal, Decimal]
Key = tuple[str, str, Any]  # policy or bucket, currency, group


def replayed(
    deals: Iterable[Deal],
    t: datetime,
    k: datetime | None,
    policy: str | None,
    by: str | None = None,
    only: Only | None = None,
    banding: Banding | None = None,
) -> tuple[dict[Key, Sums], dict[Key, Sums]]:
    """(per policy, currency and group, per week-or-bucket, currency and group), from
    Deal.state_at: the open deals at T of the policy, owner and team, grouped ``by``."""
    pipeline: dict[Key, Sums] = {}
    buckets: dict[Key, Sums] = {}
    today = t.astimezone(UTC).date()
    monday = today - timedelta(days=today.isoweekday() - 1)
    only = only or Only()
    for deal in deals:
        s = deal.state_at(t, k)
        if s.status is not Status.OPEN or (policy is not None and s.policy != policy):
            continue
        if only.owner not in (None, s.owner) or only.team not in (None, s.team):
            continue
        if by == "size":
            group: str | None = (banding or Banding(POLICIES)).band(s.policy, s.amount)
        else:
            group = None if by is None else getattr(s, by)
        spec = POLICIES[s.policy]
        currency = s.currency or spec.currency
        amount = s.amount or Decimal(0)
        # Weighed under the version the deal's stage was entered under.
        weighted = amount * VERSIONS[(s.policy, s.policy_version)].stage(s.stage).probability / 100
        if s.expected_close is None:
            bucket = "no date"
        elif s.expected_close < monday:
            bucket = "overdue"
        elif (s.expected_close - monday).days >= 28:
            bucket = "later"
        else:
            iso = s.expected_close.isocalendar()
            bucket = f"{iso.year}-W{iso.week:02d}"
        for table, key in (
            (pipeline, (s.policy, currency, group)),
            (buckets, (bucket, currency, group)),
        ):
            n, a, w = table.get(key, (0, Decimal(0), Decimal(0)))
            table[key] = (n + 1, a + amount, w + weighted)
    return pipeline, buckets


def reported(f: Forecast) -> tuple[dict[Key, Sums], dict[Key, Sums]]:
    pipeline = {
        (p.policy, p.currency, p.group): (p.deals, p.amount, p.weighted)
        for p in f.weighted_pipeline
    }
    buckets = {
        (w.week, w.currency, w.group): (w.deals, w.amount, w.weighted) for w in f.weeks if w.deals
    }
    buckets |= {(o.bucket, o.currency, o.group): (o.deals, o.amount, o.weighted) for o in f.outside}
    return pipeline, buckets


@PROPERTY
@given(steps=with_edits(busy_histories()), data=st.data())
def test_the_forecast_as_of_t_known_at_k_equals_a_replay_of_the_raw_events(
    kind: str, tmp_path: Path, steps: list[Step], data: st.DataObject
) -> None:
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b:
        deals = b.deals()
        for _ in range(3):
            query = instant_query(data, b, owners=OWNERS)
            t, k, policy, by, only, _, given, banding = query
            f = instant_report(forecast, b.sql, query)
            expected = replayed(deals, t, k, policy, by, only, banding)
            where = f"T={t} K={k} policy={policy} by={by} {only} bands={given}"
            assert reported(f) == expected, where
            # Four consecutive ISO weeks from T's, for each currency and group of the open
            # deals; the weeks and the buckets outside them add up to the pipeline.
            rank = group_rank(by, banding)
            slices = sorted(
                {(p.currency, p.group) for p in f.weighted_pipeline},
                key=lambda s: (s[0], rank(s[1])),
            )
            assert [(w.currency, w.group) for w in f.weeks] == slices * 4
            weeks_and_outside: list[WeekRow | OutsideRow] = [*f.weeks, *f.outside]
            for chosen in slices:
                pipeline = [p for p in f.weighted_pipeline if (p.currency, p.group) == chosen]
                parts = [w for w in weeks_and_outside if (w.currency, w.group) == chosen]
                total = sum((p.weighted for p in pipeline), Decimal(0))
                assert total == sum((w.weighted for w in parts), Decimal(0)), where


# ---------------------------------------------------------------- examples


def test_open_deals_are_forecast_by_the_iso_week_of_their_expected_close(
    kind: str, tmp_path: Path
) -> None:
    # Given five-level deals (identified 10%, contacted 25%) around T, a Wednesday of
    # ISO week 2026-W10 (Monday 2 March).
    t = T0 + timedelta(days=2)
    deals = {
        "A": ("1000", "2026-03-02"),  # T's week, its Monday (before T's day)
        "B": ("2000", "2026-03-29"),  # Sunday of the fourth week, W13
        "C": ("3000", "2026-03-30"),  # after the four weeks
        "D": ("400", "2026-03-01"),  # before T's week
        "E": ("500", None),
        "F": ("600", "2026-03-10"),  # in USD, advanced to contacted
        "G": ("700", "2026-03-05"),  # won before T
        "I": ("900", "2026-03-12"),  # lost only after T
    }
    with store_with_read_models(kind, tmp_path) as (engine, clock, catch_up):
        for key, (amount, close) in deals.items():
            fields: dict[str, Any] = {"amount": amount}
            if close:
                fields["expected_close"] = close
            if key == "F":
                fields["currency"] = "USD"
            engine.execute(
                cmd(
                    cmd="open",
                    deal=key,
                    policy="five-level",
                    at=T0,
                    facts=FIVE_LEVEL_OPENING,
                    **fields,
                )
            )
        for name in CONTACTED:
            engine.execute(cmd(cmd="fact", deal="F", name=name, at=T0 + timedelta(hours=1)))
        engine.execute(cmd(cmd="advance", deal="F", to="contacted", at=T0 + timedelta(days=1)))
        engine.execute(cmd(cmd="won", deal="G", at=T0 + timedelta(days=1)))
        engine.execute(cmd(cmd="lost", deal="I", at=T0 + timedelta(days=3)))
        engine.execute(
            cmd(cmd="open", deal="H", policy="five-level", at=T0 + timedelta(days=3),
                amount="800", expected_close="2026-03-05", facts=FIVE_LEVEL_OPENING)
        )  # fmt: skip
        before = clock.now
        clock.tick(days=1)
        # A backdated amount change, recorded a day later.
        engine.execute(cmd(cmd="amount", deal="A", amount="1500", at=T0 + timedelta(days=1)))

        # When the forecast is read as of T
        with catch_up().connect() as conn:
            now = forecast(conn, POLICIES, as_of=t)
            then = forecast(conn, POLICIES, as_of=t, known_at=before)

    # Then the pipeline holds the six open CNY deals and the USD one
    d = Decimal
    assert [
        (p.policy, p.currency, p.deals, p.amount, p.weighted) for p in now.weighted_pipeline
    ] == [
        ("five-level", "CNY", 6, d(8300), d(830)),
        ("five-level", "USD", 1, d(600), d(150)),
    ]
    # and each deal falls in its week or an outside bucket
    weeks = [
        (w.week, w.starts.isoformat(), w.currency, w.deals, w.amount, w.weighted) for w in now.weeks
    ]
    assert weeks == [
        ("2026-W10", "2026-03-02", "CNY", 1, d(1500), d(150)),
        ("2026-W10", "2026-03-02", "USD", 0, d(0), d(0)),
        ("2026-W11", "2026-03-09", "CNY", 1, d(900), d(90)),
        ("2026-W11", "2026-03-09", "USD", 1, d(600), d(150)),
        ("2026-W12", "2026-03-16", "CNY", 0, d(0), d(0)),
        ("2026-W12", "2026-03-16", "USD", 0, d(0), d(0)),
        ("2026-W13", "2026-03-23", "CNY", 1, d(2000), d(200)),
        ("2026-W13", "2026-03-23", "USD", 0, d(0), d(0)),
    ]  # fmt: skip
    assert [(o.bucket, o.currency, o.deals, o.amount, o.weighted) for o in now.outside] == [
        ("overdue", "CNY", 1, d(400), d(40)),
        ("later", "CNY", 1, d(3000), d(300)),
        ("no date", "CNY", 1, d(500), d(50)),
    ]
    # and known before the backdated change, deal A still had its opening amount.
    assert then.weighted_pipeline[0].amount == d(7800)
    assert (then.weeks[0].amount, then.weeks[0].weighted) == (d(1000), d(100))


def test_an_unknown_policy_is_refused(kind: str, tmp_path: Path) -> None:
    with (
        store_with_read_models(kind, tmp_path) as (_, _, catch_up),
        catch_up().connect() as conn,
        pytest.raises(ValueError, match="no policy 'nope'"),
    ):
        forecast(conn, POLICIES, as_of=T0, policy="nope")
