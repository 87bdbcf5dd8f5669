"""The scope in SQL reaches exactly the deals whose current attributes it admits.

For random stores (backdated owner changes included) and random scopes, the deal ids
``in_scope`` keeps equal a brute-force filter over the domain's own state of each deal
after all its events; and a rep's funnel equals the replayed funnel of the deals the
rep owns now.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from salesengine.access.principal import EVERYTHING, Scope
from salesengine.access.scope_sql import in_scope
from salesengine.application.funnel import funnel_by_replay
from salesengine.domain.deal import Deal
from salesengine.projections import deal_attributes, stage_intervals
from salesengine.reports.funnel import funnel
from tests.support.histories import OWNERS, POLICIES, TEAMS, VERSIONS, Step, built, instants
from tests.support.stores import fresh_db
from tests.support.timelines import any_histories

# A third of the reports' examples: these stores are the reports' own, already well walked.
EXAMPLES = max(1, int(os.environ.get("SALESENGINE_EXAMPLES", "150")) // 3)
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
INTERVALS = stage_intervals.table
ATTRIBUTES = deal_attributes.table

# Names the histories use, and one of each they never do.
owners = st.sampled_from([*OWNERS, "nobody"])
teams = st.frozensets(st.sampled_from([*TEAMS, "west"]), max_size=3)
policies = st.frozensets(st.sampled_from([*sorted(POLICIES), "bpi2012"]), max_size=3)
scopes = st.one_of(
    st.just(EVERYTHING),
    st.builds(Scope, owner=owners),
    st.builds(Scope, teams=teams),
    st.builds(Scope, teams=teams, policies=policies),
    st.builds(Scope, owner=st.none() | owners, teams=teams, policies=policies),
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def brute_force(deals: list[Deal], scope: Scope) -> set[str]:
    """The deals in scope by the domain's state after every event, written out."""
    found = set()
    for deal in deals:
        now = deal.state  # the fold of all its events in timeline order
        if scope.everything or (
            (scope.owner is not None or scope.teams or scope.policies)
            and (scope.owner is None or now.owner == scope.owner)
            and (not scope.teams or now.team in scope.teams)
            and (not scope.policies or now.policy in scope.policies)
        ):
            found.add(deal.id.hex)
    return found


@PROPERTY
@given(steps=any_histories(), chosen=st.lists(scopes, min_size=1, max_size=4))
def test_the_deals_in_scope_are_those_whose_current_attributes_it_admits(
    kind: str, tmp_path: Path, steps: list[Step], chosen: list[Scope]
) -> None:
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b:
        deals = b.deals()
        with b.sql.connect() as conn:
            for scope in chosen:
                expected = brute_force(deals, scope)
                assert expected == {
                    d.id.hex
                    for d in deals
                    if scope.admits(d.state.owner, d.state.team, d.state.policy)
                }
                # Restricting another table's deal ids, and deal_attributes' own (which
                # the subquery must not correlate with).
                for column in (INTERVALS.c.deal_id, ATTRIBUTES.c.deal_id):
                    query = select(column).distinct().where(in_scope(scope, column))
                    got = {str(r[0]) for r in conn.execute(query)}
                    assert got == expected, scope


@PROPERTY
@given(steps=any_histories(), data=st.data())
def test_a_reps_funnel_counts_only_the_deals_the_rep_owns_now(
    kind: str, tmp_path: Path, steps: list[Step], data: st.DataObject
) -> None:
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b:
        deals = b.deals()
        for _ in range(3):
            t, k = instants(data, b)
            scope = data.draw(st.one_of(st.builds(Scope, owner=owners), scopes))
            mine = [d for d in deals if d.id.hex in brute_force(deals, scope)]
            expected = {
                (r.policy, r.stage, r.currency): (r.deals, r.amount, r.weighted)
                for r in funnel_by_replay(mine, POLICIES, t, k, VERSIONS)
            }
            with b.sql.connect() as conn:
                rows = funnel(conn, POLICIES, as_of=t, known_at=k, scope=scope)
                everyone = funnel(conn, POLICIES, as_of=t, known_at=k)
            got = {(r.policy, r.stage, r.currency): (r.deals, r.amount, r.weighted) for r in rows}
            assert got == expected, f"T={t} K={k} scope={scope}"
            # Scoped over everything, the funnel is the unscoped one.
            if scope.everything:
                assert rows == everyone
            assert sum(r.deals for r in rows) <= sum(r.deals for r in everyone)
            assert all(isinstance(r.amount, Decimal) for r in rows)
