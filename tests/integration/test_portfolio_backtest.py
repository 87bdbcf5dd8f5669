"""The portfolio projection held against what followed, on the demo's quarter and on the
BPI Challenge 2012 log (docs/portfolio.md, "How well the bands hold")."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.cli.demo_quarter import build_demo, commands
from salesengine.domain.values import Status
from salesengine.importing.sources import import_source
from salesengine.importing.xes import read
from salesengine.projections.runner import ProjectionRunner
from salesengine.reports.portfolio_backtest import Backtest, backtest
from salesengine.reports.portfolio_deals import Selection
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.clock import Clock
from tests.support.data import BPI_LOG, shared_data

# The demo's quarter ends on 30 June 2026; the backtest projects from four weeks of May,
# each horizon (about a month) ending before the quarter does.
DEMO_END = date(2026, 6, 30)
DEMO_TIMES = [datetime(2026, 5, 1, tzinfo=UTC) + timedelta(weeks=n) for n in range(4)]
# The tolerance docs/portfolio.md states: the share of (T, rep, figure) pairs inside the
# 80% band is within 0.15 of 0.80 (measured: 0.906 for seed 7; 0.80 to 0.94 for seeds 1
# to 8), and the pairs strictly inside the band are at most 0.80 (measured 0.42): a band
# that held everything would be too wide, one that held too little too narrow.
TOLERANCE = 0.15


@pytest.fixture
def demo(store_url: str) -> Iterator[tuple[SalesEngine, Connection]]:
    engine = build_engine(store_url, clock=Clock(datetime(2026, 7, 1, tzinfo=UTC)), actor="t")
    policy = engine.catalog.get("five-level")
    for _, outcome in engine.execute_many(commands(build_demo(policy, DEMO_END, seed=7))):
        assert getattr(outcome, "status", None) != "duplicate"
    sql = sql_engine(store_settings(store_url))
    ProjectionRunner(engine, sql).catch_up()
    try:
        with sql.connect() as conn:
            yield engine, conn
    finally:
        sql.dispose()
        engine.close()


def demo_backtest(engine: SalesEngine, conn: Connection) -> Backtest:
    policies = {"five-level": engine.catalog.get("five-level")}
    return backtest(conn, policies, Selection("five-level"), as_ofs=DEMO_TIMES, runs=1000)


def test_on_the_demo_the_bands_hold_the_actual_outcome_about_80_percent_of_the_time(
    demo: tuple[SalesEngine, Connection],
) -> None:
    result = demo_backtest(*demo)
    # Twelve reps, all with open deals at each T, four figures each.
    assert len(result.pairs) == 4 * 12 * 4
    assert not any(p.incomplete for p in result.points)
    coverage, strict = result.coverage, result.strict_coverage
    assert coverage is not None and strict is not None
    assert abs(coverage - 0.80) <= TOLERANCE, coverage
    assert strict <= 0.80, strict


def test_the_backtests_actual_outcomes_are_the_deals_replayed_at_t_plus_the_horizon(
    demo: tuple[SalesEngine, Connection],
) -> None:
    engine, conn = demo
    result = demo_backtest(engine, conn)
    for point in result.points:
        end = point.end
        expected: dict[Any, Counter[str]] = {}
        won_amount: dict[Any, Decimal] = {}
        for deal in point.projection.deals:
            state = engine.deal_events(deal.key).state_at(end)
            figure = {Status.OPEN: "open", Status.WON: "won"}.get(state.status, "lost")
            expected.setdefault(deal.owner, Counter())[figure] += 1
            if figure == "won":
                won_amount[deal.owner] = won_amount.get(deal.owner, Decimal(0)) + (
                    state.amount or Decimal(0)
                )
        for g in point.projection.groups:
            if g.group.level != "rep":
                continue
            actual = point.actual[g.group]
            counts = expected[g.group.name]
            assert (actual["open"], actual["won"], actual["lost"]) == (
                counts["open"], counts["won"], counts["lost"]
            )  # fmt: skip
            assert actual["won_amount"] == pytest.approx(
                float(won_amount.get(g.group.name, Decimal(0)))
            )
            assert g.open_now == sum(counts.values())


# ---------------------------------------------------------------- BPI Challenge 2012

# Twice a month from November 2011 to mid-February 2012: each horizon (about two weeks)
# ends before the log does (mid-March 2012).
BPI_TIMES = [
    datetime(y, m, d, tzinfo=UTC)
    for y, m in ((2011, 11), (2011, 12), (2012, 1), (2012, 2))
    for d in (1, 15)
]
# docs/portfolio.md: measured 18 of 32 pairs inside (0.5625).
BPI_COVERAGE = 0.5625


@pytest.fixture(scope="module")
def bpi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SalesEngine, Connection]]:
    log = shared_data(BPI_LOG)
    db = str(tmp_path_factory.mktemp("bpi") / "bpi.db")
    engine = build_engine(db, clock=Clock(datetime(2026, 1, 1, tzinfo=UTC)), actor="importer")
    report = import_source(engine, log, "xes", read(log, "bpi2012", None))
    assert not report.refused, report.refused[:5]
    sql = sql_engine(store_settings(db))
    ProjectionRunner(engine, sql).catch_up()
    with sql.connect() as conn:
        yield engine, conn
    sql.dispose()
    engine.close()


@pytest.mark.slow
def test_on_the_bpi_log_the_backtest_gives_the_coverage_the_docs_state(
    bpi: tuple[SalesEngine, Connection],
) -> None:
    engine, conn = bpi
    policies = {"bpi2012": engine.catalog.get("bpi2012")}
    result = backtest(conn, policies, Selection("bpi2012"), as_ofs=BPI_TIMES, runs=1000)
    # One rep owns every application (the log's first resource): four pairs per T.
    assert len(result.pairs) == 4 * len(BPI_TIMES)
    assert not any(p.incomplete for p in result.points)
    for point in result.points:
        whole = point.actual[point.projection.groups[-1].group]
        assert whole["open"] + whole["won"] + whole["lost"] == point.projection.groups[-1].open_now
    # Under 80%: the log's flow changes from month to month (the year's end above all),
    # which runs drawn from one window's rates do not know.
    assert result.coverage == pytest.approx(BPI_COVERAGE, abs=0.05)
