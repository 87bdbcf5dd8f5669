"""The V value as of T, known at K, equals one computed from the raw events of deals and
quotas (docs/metrics.md, "Quotas" and "V value"), and matches hand-computed examples."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from hypothesis import given
from hypothesis import strategies as st

from salesengine.application.engine import SalesEngine
from salesengine.application.quota_commands import parse_quota_command
from salesengine.application.quotas import Quotas
from salesengine.domain.deal import Deal
from salesengine.domain.quota import Quota, QuotaPeriod, quota_id
from salesengine.domain.values import Status
from salesengine.reports.periods import Period, parse_period
from salesengine.reports.vvalue import VValue, vvalue
from tests.support.clock import T0
from tests.support.commands import FIVE_LEVEL_OPENING, cmd
from tests.support.histories import OWNERS, POLICIES, TEAMS, VERSIONS, Step, instants
from tests.support.properties import examples, store_property
from tests.support.quota_histories import PERIODS, built_with_quotas, deal_and_quota_histories
from tests.support.stores import fresh_db, store_with_read_models

PROPERTY = store_property(examples(40))
Key = tuple[str, str | None, str | None]  # kind, subject, currency
ZERO = Decimal(0)


# ------------------------------------------------------------------ the oracle


def raw_quota_events(engine: SalesEngine, kind: str, subject: str, year: int) -> list[Any]:
    """The stream's events as stored, decoded, in version order."""
    return list(engine.events.get(quota_id(kind, subject, year)))  # type: ignore[arg-type]


def replayed_quotas(
    engine: SalesEngine, year: int, t: datetime, k: datetime | None
) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (kind, subject) with a stream for the year: the stream folded by hand from
    its events effective at or before T and recorded at or before K."""
    found = {}
    for kind in ("rep", "team"):
        for subject in (*OWNERS, *TEAMS):
            events = raw_quota_events(engine, kind, subject, year)
            seen = sorted(
                (e for e in events
                 if e.effective_at <= t and (k is None or e.timestamp <= k)),
                key=lambda e: (e.effective_at, e.originator_version),
            )  # fmt: skip
            targets: dict[str, Decimal] = {}
            currency, team = None, None
            for e in seen:
                if isinstance(e, Quota.TargetSet):
                    targets[e.period] = e.amount
                    targets.update({p: Decimal(a) for p, a in e.parts.items()})
                    currency = e.currency
                    team = e.team if e.team is not None else team
                elif isinstance(e, Quota.TargetCleared):
                    targets.pop(e.period, None)
            if targets or team is not None:
                found[(kind, subject)] = {"targets": targets, "currency": currency, "team": team}
    return found


def replayed_figures(streams: dict[tuple[str, str], dict[str, Any]], period: str) -> dict[Key, Any]:
    """(quota, source) per (kind, subject, currency), as docs/metrics.md says."""
    figures: dict[Key, Any] = {}
    teams: set[str] = set()
    for (kind, subject), s in streams.items():
        if kind == "rep":
            amount = s["targets"].get(period)
            figures[("rep", subject, s["currency"])] = (
                amount,
                "own" if amount is not None else "none",
            )
            if s["team"] is not None:
                teams.add(s["team"])
        else:
            teams.add(subject)
    for team in teams:
        own = streams.get(("team", team))
        if own is not None and period in own["targets"]:
            figures[("team", team, own["currency"])] = (own["targets"][period], "own")
            continue
        reps = [s for (kind, _), s in streams.items()
                if kind == "rep" and s["team"] == team and period in s["targets"]]  # fmt: skip
        currencies = {s["currency"] for s in reps}
        if not reps:
            figures[("team", team, None if own is None else own["currency"])] = (None, "none")
        elif len(currencies) > 1:
            figures[("team", team, None)] = (None, "reps")
        else:
            total = sum((s["targets"][period] for s in reps), ZERO)
            figures[("team", team, currencies.pop())] = (total, "reps")
    return figures


def replayed_v(
    deals: Iterable[Deal],
    engine: SalesEngine,
    period: Period,
    t: datetime,
    k: datetime | None,
) -> dict[Key, tuple[Any, ...]]:
    last_day = (period.end - timedelta(microseconds=1)).astimezone(UTC).date()
    sums: dict[Key, list[Any]] = {}
    for deal in deals:
        s = deal.state_at(t, k)
        if s.status is Status.NEW:
            continue  # not opened at T, as known at K
        won = (
            s.status is Status.WON
            and s.closed_at is not None
            and (period.start <= s.closed_at < period.end)
        )
        if s.status is not Status.OPEN and not won:
            continue
        currency = s.currency or POLICIES[s.policy].currency
        amount = s.amount or ZERO
        for kind, who in (("rep", s.owner), ("team", s.team)):
            row = sums.setdefault((kind, who, currency), [ZERO, 0, ZERO, 0, 0, 0])
            if won:
                row[0] += amount
                row[1] += 1
            elif s.expected_close is None:
                row[4] += 1
            elif s.expected_close > last_day:
                row[5] += 1
            else:
                probability = VERSIONS[(s.policy, s.policy_version)].stage(s.stage).probability
                row[2] += amount * Decimal(probability) / 100
                row[3] += 1
    figures = replayed_figures(
        replayed_quotas(engine, period.start.year, t, k), QuotaPeriod.parse(period.name).name
    )
    expected = {}
    for key in set(sums) | set(figures):
        won_, won_deals, pipeline, pipeline_deals, undated, later = sums.get(
            key, [ZERO, 0, ZERO, 0, 0, 0]
        )
        quota, source = figures.get(key, (None, "none"))
        remaining = None if quota is None else max(quota - won_, ZERO)
        v = None if not remaining else (pipeline / remaining).quantize(Decimal("0.0001"))
        expected[key] = (quota, source, won_, won_deals, remaining, pipeline, pipeline_deals,
                         undated, later, v)  # fmt: skip
    return expected


def reported(result: VValue) -> dict[Key, tuple[Any, ...]]:
    return {
        (r.kind, r.subject, r.currency): (
            r.quota, r.quota_source, r.won, r.won_deals, r.remaining, r.pipeline,
            r.pipeline_deals, r.undated, r.later, r.v,
        )
        for r in result.rows
    }  # fmt: skip


# ------------------------------------------------------------------ the property


@PROPERTY
@given(steps=deal_and_quota_histories(), data=st.data())
def test_the_v_value_as_of_t_known_at_k_equals_a_replay_of_the_raw_events(
    kind: str, tmp_path: Path, steps: list[Step], data: st.DataObject
) -> None:
    with fresh_db(kind, tmp_path) as db, built_with_quotas(db, steps) as (b, quotas, times):
        deals = b.deals()
        for _ in range(3):
            t, k = instants(data, b)
            near_a_quota = data.draw(st.booleans())
            if times and near_a_quota:
                t = data.draw(st.sampled_from(times)) + timedelta(
                    minutes=data.draw(st.sampled_from([-1, 0, 1]))
                )
            period = parse_period(data.draw(st.sampled_from(PERIODS)))
            figures = quotas.figures(period.name, t, k)
            with b.sql.connect() as conn:
                got = vvalue(conn, POLICIES, figures, period=period, as_of=t, known_at=k)
            where = f"{period.name} T={t} K={k}"
            assert reported(got) == replayed_v(deals, b.engine, period, t, k), where
            # Rows are listed reps first, then teams, each by name, no subject last.
            order = [(r.kind != "rep", r.subject is None, r.subject or "") for r in got.rows]
            assert order == sorted(order), where
            # One subject kept: exactly its rows.
            chosen = data.draw(st.sampled_from([*OWNERS, *TEAMS]))
            kept: Literal["rep", "team"] = "rep" if chosen in OWNERS else "team"
            with b.sql.connect() as conn:
                one = vvalue(conn, POLICIES, figures, period=period, as_of=t, known_at=k,
                             kind=kept, subject=chosen)  # fmt: skip
            assert one.rows == tuple(
                r for r in got.rows if r.kind == kept and r.subject == chosen
            ), where


# ------------------------------------------------------------------ examples


def opened(key: str, owner: str, amount: str, close: str, at: datetime) -> Any:
    return cmd(cmd="open", deal=key, policy="five-level", owner=owner, team="east", at=at,
               amount=amount, expected_close=close, facts=FIVE_LEVEL_OPENING)  # fmt: skip


def quota(**fields: Any) -> Any:
    return parse_quota_command({"cmd": "set_quota", **fields})


def test_given_quotas_won_deals_and_a_pipeline_then_v_is_what_remains_covered(
    kind: str, tmp_path: Path
) -> None:
    # T0 is Monday 2 March 2026; Q1 ends on 31 March.
    t = T0 + timedelta(days=10)
    with store_with_read_models(kind, tmp_path) as (engine, clock, catch_up):
        quotas = Quotas(engine)
        # Given Li's 2026 quota of 1.2M broken into quarters (300k for Q1), effective 1 January,
        jan = datetime(2026, 1, 1, tzinfo=UTC)
        quotas.execute(quota(rep="Li", team="east", period="2026", amount="1200000",
                             currency="CNY", at=jan.isoformat()))  # fmt: skip
        # anna's Q1 quota of 100k, and no quota for team east of its own,
        quotas.execute(quota(rep="anna", team="east", period="2026-Q1", amount="100000",
                             currency="CNY", at=jan.isoformat()))  # fmt: skip
        # Li's deals: A won in Q1 (200k), B due in Q1 (500k at identified: 10%), C due in
        # April (left out), D without an expected close (left out); anna's E won (150k).
        engine.execute(opened("A", "Li", "200000", "2026-03-05", T0))
        engine.execute(opened("B", "Li", "500000", "2026-03-31", T0))
        engine.execute(opened("C", "Li", "900000", "2026-04-01", T0))
        engine.execute(cmd(cmd="open", deal="D", policy="five-level", owner="Li", team="east",
                           at=T0, amount="50000", facts=FIVE_LEVEL_OPENING))  # fmt: skip
        engine.execute(opened("E", "anna", "150000", "2026-03-20", T0))
        engine.execute(cmd(cmd="won", deal="A", at=T0 + timedelta(days=3)))
        engine.execute(cmd(cmd="won", deal="E", at=T0 + timedelta(days=4)))
        before_change = clock.now
        clock.tick(days=1)
        # and Li's Q1 quota raised to 400k, effective 5 March, recorded a day later,
        quotas.execute(quota(rep="Li", period="2026-Q1", amount="400000",
                             at=(T0 + timedelta(days=3)).isoformat()))  # fmt: skip
        period = parse_period("2026-Q1")
        with catch_up().connect() as conn:
            now = vvalue(conn, POLICIES, quotas.figures("2026-Q1", t), period=period, as_of=t)
            then = vvalue(conn, POLICIES, quotas.figures("2026-Q1", t, before_change),
                          period=period, as_of=t, known_at=before_change)  # fmt: skip
    rows = {(r.kind, r.subject): r for r in now.rows}
    li, anna, east = rows["rep", "Li"], rows["rep", "anna"], rows["team", "east"]
    # Then Li has 400k - 200k = 200k to win, covered by 50k of weighted pipeline: V 0.25,
    assert (li.quota, li.won, li.remaining) == (Decimal(400000), Decimal(200000), Decimal(200000))
    assert (li.pipeline, li.pipeline_deals, li.undated, li.later) == (Decimal(50000), 1, 1, 1)
    assert li.v == Decimal("0.25")
    # anna has met her quota (150k won of 100k): no V,
    assert anna.met and anna.remaining == 0 and anna.v is None
    # the team's quota is its reps' (400k + 100k), its won and pipeline its deals',
    assert (east.quota, east.quota_source) == (Decimal(500000), "reps")
    assert (east.won, east.remaining, east.v) == (
        Decimal(350000),
        Decimal(150000),
        Decimal("0.3333"),
    )
    # and known before the change, Li's Q1 quota was still the quarter of the year's.
    li_then = {(r.kind, r.subject): r for r in then.rows}["rep", "Li"]
    assert (li_then.quota, li_then.v) == (Decimal("300000.00"), Decimal("0.5"))


def test_a_team_without_a_quota_and_without_reps_quotas_has_no_v(kind: str, tmp_path: Path) -> None:
    with store_with_read_models(kind, tmp_path) as (engine, _, catch_up):
        engine.execute(opened("A", "Li", "200000", "2026-03-05", T0))
        with catch_up().connect() as conn:
            result = vvalue(conn, POLICIES, [], period=parse_period("2026-Q1"),
                            as_of=T0 + timedelta(days=1))  # fmt: skip
    assert [(r.kind, r.subject, r.quota, r.v, r.pipeline) for r in result.rows] == [
        ("rep", "Li", None, None, Decimal(20000)),
        ("team", "east", None, None, Decimal(20000)),
    ]
