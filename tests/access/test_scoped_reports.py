"""Every report kept to a scope is the same report over a store of the deals in scope.

For random stores, each of a rep's, a manager's and an integration's scope: the funnel,
its moves, conversion, cycle time, forecast, health (visits per rep included), plan, the
deal list and the exports (CSV tables and XES), run on the whole store with the scope,
equal the same reports run without one on a store built from the history of the deals
in scope alone (tests/support/scopes.py). Only the log positions differ between the two
stores, and the exports are compared without them.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Connection

from salesengine.access.principal import EVERYTHING, Scope, scope_for
from salesengine.access.roles import Role
from salesengine.access.scope_sql import deal_in_scope, scoped_deal_keys
from salesengine.application.engine import SalesEngine
from salesengine.exporting.tables import export_tables
from salesengine.exporting.xes import write_xes
from salesengine.reports.conversion import conversion
from salesengine.reports.cycle_time import cycle_time
from salesengine.reports.deal_list import deal_list
from salesengine.reports.forecast import forecast
from salesengine.reports.funnel import funnel
from salesengine.reports.funnel_moves import moves
from salesengine.reports.health import health
from salesengine.reports.periods import parse_period
from salesengine.reports.plan import plan
from tests.support.clock import T0
from tests.support.commands import FIVE_LEVEL_OPENING
from tests.support.histories import POLICIES, RECORDING_START, Step, built, instants
from tests.support.properties import examples, store_property
from tests.support.scopes import (
    integration_scopes,
    keys_in_scope,
    manager_scopes,
    only_deals,
    rep_scopes,
)
from tests.support.stores import fresh_db
from tests.support.timelines import any_histories, group_by

# Each example builds four stores: fewer than the reports' own properties.
PROPERTY = store_property(examples(150) // 5 or 1)
POSITION_XES = re.compile(r'\s*<int key="position" value="\d+"/>')


@dataclass(frozen=True, slots=True)
class Asked:
    """What the reports of one example are asked: T, T2 after it, K, a grouping, a
    policy for the plan, and the directory exports are written in."""

    at: datetime
    later: datetime
    known_at: datetime | None
    by: str | None
    policy: str
    directory: Path

    @property
    def export_known_at(self) -> datetime:
        return self.known_at or RECORDING_START + timedelta(days=3650)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


Report = Callable[[Connection, SalesEngine, Scope | None, Asked], Any]


def _all_pages(conn: Connection, scope: Scope | None, asked: Asked) -> list[Any]:
    items: list[Any] = []
    cursor = None
    while True:
        page = deal_list(
            conn,
            POLICIES,
            as_of=asked.at,
            known_at=asked.known_at,
            scope=scope,
            limit=2,
            cursor=cursor,
        )
        items.extend(page.items)
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor


def _tables(conn: Connection, engine: SalesEngine, scope: Scope | None, asked: Asked) -> Any:
    target = asked.directory / ("scoped" if scope is not None else "whole")
    export_tables(
        engine,
        target,
        "csv",
        asked.at,
        asked.export_known_at,
        scope=scope,
        read_models=conn,
    )
    found = {}
    for name in ("events", "stage_intervals"):
        with (target / f"{name}.csv").open(encoding="utf-8") as f:
            found[name] = [
                {k: v for k, v in row.items() if k != "position"} for row in csv.DictReader(f)
            ]
    return found


def _xes(conn: Connection, engine: SalesEngine, scope: Scope | None, asked: Asked) -> str:
    out = io.BytesIO()
    write_xes(engine, out, asked.at, asked.export_known_at, scope=scope, read_models=conn)
    return POSITION_XES.sub("", out.getvalue().decode())


def _plan(conn: Connection, scope: Scope | None, asked: Asked) -> Any:
    quarter = parse_period(f"{asked.at.year}-Q{(asked.at.month - 1) // 3 + 1}")
    return plan(
        conn,
        POLICIES,
        policy=asked.policy,
        target=Decimal(500_000),
        period=quarter,
        as_of=asked.at,
        known_at=asked.known_at,
        scope=scope,
    )


REPORTS: dict[str, Report] = {
    "funnel": lambda c, _, s, a: funnel(
        c, POLICIES, as_of=a.at, scope=s, known_at=a.known_at, by=a.by
    ),
    "moves": lambda c, _, s, a: moves(
        c, POLICIES, start=a.at, end=a.later, scope=s, known_at=a.known_at, by=a.by
    ),
    "conversion": lambda c, _, s, a: conversion(
        c, POLICIES, start=a.at, end=a.later, scope=s, known_at=a.known_at, by=a.by
    ),
    "cycle_time": lambda c, _, s, a: cycle_time(
        c, POLICIES, start=a.at, end=a.later, scope=s, known_at=a.known_at, by=a.by
    ),
    "forecast": lambda c, _, s, a: forecast(
        c, POLICIES, as_of=a.at, scope=s, known_at=a.known_at, by=a.by
    ),
    "health": lambda c, _, s, a: health(
        c, POLICIES, as_of=a.at, scope=s, known_at=a.known_at, by=a.by
    ),
    "plan": lambda c, _, s, a: _plan(c, s, a),
    "deal_list": lambda c, _, s, a: _all_pages(c, s, a),
    "export_tables": _tables,
    "export_xes": _xes,
}


@PROPERTY
@given(steps=any_histories(), data=st.data())
def test_each_scoped_report_equals_the_report_over_a_store_of_the_deals_in_scope(
    kind: str, tmp_path: Path, steps: list[Step], data: st.DataObject
) -> None:
    with fresh_db(kind, tmp_path) as db, built(db, steps) as whole:
        deals = whole.deals()
        at, known_at = instants(data, whole)
        asked = Asked(
            at,
            at + timedelta(days=data.draw(st.sampled_from([1, 30, 400]))),
            known_at,
            group_by(data),
            data.draw(st.sampled_from(sorted(POLICIES))),
            tmp_path / f"exports-{data.draw(st.uuids()).hex}",
        )
        for scopes in (rep_scopes, manager_scopes, integration_scopes):
            scope = data.draw(scopes)
            keys = keys_in_scope(deals, scope)
            with (
                fresh_db(kind, tmp_path) as part_db,
                built(part_db, only_deals(steps, keys)) as part,
                whole.sql.connect() as scoped_conn,
                part.sql.connect() as part_conn,
            ):
                assert {d.state.key for d in part.deals()} == keys
                for name, report in REPORTS.items():
                    got = report(scoped_conn, whole.engine, scope, asked)
                    expected = report(part_conn, part.engine, None, asked)
                    assert got == expected, f"{name}: scope={scope} T={at} K={known_at}"


def test_a_deal_handed_to_another_owner_leaves_the_first_reps_reports(
    kind: str, tmp_path: Path
) -> None:
    """H is anna's from day 0 and is won on day 20, handed to Li Wei on day 30 (effective
    then); K stays anna's throughout. Asked about day 10, when anna still owned H, anna's
    reports know nothing of it, and Li Wei's count it."""
    opened = {"cmd": "open", "policy": "five-level", "at": T0, "facts": FIVE_LEVEL_OPENING}
    steps = [
        Step(1, {**opened, "deal": "H", "owner": "anna", "team": "east", "amount": "1000"}),
        Step(1, {**opened, "deal": "K", "owner": "anna", "team": "east", "amount": "50"}),
        Step(1, {"cmd": "visit", "deal": "H", "at": T0 + timedelta(days=9)}),
        Step(1, {"cmd": "won", "deal": "H", "at": T0 + timedelta(days=20)}),
        Step(1, {"cmd": "owner", "deal": "H", "owner": "Li Wei", "team": "north",
                 "at": T0 + timedelta(days=30)}),
    ]  # fmt: skip
    anna, li = scope_for(Role.REP, owner="anna"), scope_for(Role.REP, owner="Li Wei")
    east = scope_for(Role.MANAGER, teams=["east"])
    day10, day40 = T0 + timedelta(days=10), T0 + timedelta(days=40)
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b, b.sql.connect() as conn:
        assert len(b.recorded) == len(steps)

        def deals_in_funnel(scope: Scope, at: datetime) -> int:
            return sum(r.deals for r in funnel(conn, POLICIES, as_of=at, scope=scope))

        assert (deals_in_funnel(anna, day10), deals_in_funnel(li, day10)) == (1, 1)
        assert deals_in_funnel(east, day10) == 1  # the team's too: H is north's now
        assert deals_in_funnel(EVERYTHING, day10) == 2
        forecast_anna = forecast(conn, POLICIES, as_of=day10, scope=anna)
        assert [r.deals for r in forecast_anna.weighted_pipeline] == [1]
        assert forecast_anna.weighted_pipeline[0].amount == Decimal(50)
        health_li = health(conn, POLICIES, as_of=day10, scope=li)
        assert [r.open for r in health_li.summary] == [1]
        assert [s.deal for s in health_li.stale] == ["H"]
        assert sum(w.visits for w in health_li.visits) == 1
        assert sum(w.visits for w in health(conn, POLICIES, as_of=day10, scope=anna).visits) == 0
        won_by = {
            name: [r.count for r in cycle_time(conn, POLICIES, start=T0, end=day40, scope=s)
                   if r.stage == "won"]
            for name, s in (("anna", anna), ("li", li))
        }  # fmt: skip
        assert won_by == {"anna": [], "li": [1]}
        listed = deal_list(conn, POLICIES, as_of=day10, scope=anna).items
        assert [(i.key, i.owner) for i in listed] == [("K", "anna")]
        listed = deal_list(conn, POLICIES, as_of=day10, scope=li).items
        assert [(i.key, i.owner, i.status) for i in listed] == [("H", "anna", "open")]
        assert not deal_in_scope(conn, anna, "H")
        assert deal_in_scope(conn, li, "H")
        assert not deal_in_scope(conn, EVERYTHING, "no-such-deal")
        assert scoped_deal_keys(conn, anna) == ["K"]
        assert scoped_deal_keys(conn, None) == ["H", "K"]
