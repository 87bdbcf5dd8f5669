"""The V value, the plan per rep and team, and the anomalies, kept to a scope, are the
same reports over a store of the deals in scope (as tests/access/test_scoped_reports.py
checks the other reports): a deal out of scope never changes a figure.

Both sides are given the same quotas (one per owner and team, for T's quarter), so what
is compared is the deals' part: won, pipeline, the plan's funnels and conversions, and
each anomaly."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Connection

from salesengine.access.principal import Scope
from salesengine.access.scope_sql import scoped_deal_keys
from salesengine.application.engine import SalesEngine
from salesengine.application.quota_figures import QuotaFigure
from salesengine.reports.anomalies import anomalies
from salesengine.reports.periods import Period, parse_period
from salesengine.reports.plan_per import plans_per, remaining_targets
from salesengine.reports.vvalue import vvalue
from tests.support.histories import OWNERS, POLICIES, TEAMS, Step, built, instants
from tests.support.properties import examples, store_property
from tests.support.scopes import (
    integration_scopes,
    keys_in_scope,
    manager_scopes,
    only_deals,
    rep_scopes,
)
from tests.support.stores import fresh_db
from tests.support.timelines import any_histories

PROPERTY = store_property(examples(150) // 5 or 1)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _quotas(draw: st.DataObject, period: Period, currency: str) -> list[QuotaFigure]:
    amounts = st.integers(1, 3_000_000).map(Decimal)
    found = [
        QuotaFigure("rep", o, period.name, currency, draw.draw(amounts), "own") for o in OWNERS
    ]
    return found + [
        QuotaFigure("team", t, period.name, currency, draw.draw(amounts), "own") for t in TEAMS
    ]


def _reports(
    conn: Connection,
    engine: SalesEngine,
    scope: Scope | None,
    asked: dict[str, Any],
) -> dict[str, Any]:
    at, known_at, period, policy = asked["at"], asked["known_at"], asked["period"], asked["policy"]
    currency = POLICIES[policy].currency
    v = vvalue(conn, POLICIES, asked["quotas"], period=period, as_of=at, known_at=known_at,
               scope=scope)  # fmt: skip
    plans = {}
    for per in ("rep", "team"):
        plans[per] = plans_per(
            conn, POLICIES, per="owner" if per == "rep" else "team", policy=policy,
            targets=remaining_targets(v, currency, per), period=period, as_of=at,
            known_at=known_at, ideal_from=asked["ideal_from"], scope=scope,
        )  # fmt: skip
    keys = scoped_deal_keys(conn, scope)
    found = anomalies(POLICIES, (engine.deal_events(k) for k in keys), as_of=at, known_at=known_at)
    return {"vvalue": v, "plans": plans, "anomalies": found.rows}


@PROPERTY
@given(steps=any_histories(), data=st.data())
def test_the_scoped_v_value_plan_per_and_anomalies_equal_them_over_the_deals_in_scope(
    kind: str, tmp_path: Path, steps: list[Step], data: st.DataObject
) -> None:
    with fresh_db(kind, tmp_path) as db, built(db, steps) as whole:
        deals = whole.deals()
        at, known_at = instants(data, whole)
        period = parse_period(f"{at.year}-Q{(at.month - 1) // 3 + 1}")
        policy = data.draw(st.sampled_from(sorted(POLICIES)))
        asked = {
            "at": at,
            "known_at": known_at,
            "period": period,
            "policy": policy,
            "ideal_from": data.draw(st.sampled_from(["own", "team"])),
            "quotas": _quotas(data, period, POLICIES[policy].currency),
        }
        for scopes in (rep_scopes, manager_scopes, integration_scopes):
            scope = data.draw(scopes)
            keys = keys_in_scope(deals, scope)
            with (
                fresh_db(kind, tmp_path) as part_db,
                built(part_db, only_deals(steps, keys)) as part,
                whole.sql.connect() as scoped_conn,
                part.sql.connect() as part_conn,
            ):
                got = _reports(scoped_conn, whole.engine, scope, asked)
                expected = _reports(part_conn, part.engine, None, asked)
                for name in got:
                    assert got[name] == expected[name], f"{name}: scope={scope} T={at} K={known_at}"
