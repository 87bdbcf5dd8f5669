"""Which accounts a principal reaches (reports/account_scope.py, docs/access.md
"Accounts") equals the rule applied to each account's and deal's state after all their
events, for random histories of accounts and the deals naming them (handovers and
backdated changes included), on SQLite and PostgreSQL; and a scoped account read shows
only those accounts and, of their deals, only those in scope."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from salesengine.access.principal import Scope
from salesengine.application.accounts import Accounts
from salesengine.reports.account_scope import reachable_accounts
from salesengine.reports.accounts import account_views
from tests.reports.test_accounts_property import (
    ACCOUNTS,
    DEALS,
    OWNERS,
    PROPERTY,
    Step,
    apply,
    draw_instants,
    histories,
)
from tests.support.clock import T0
from tests.support.stores import store_with_read_models

SCOPES = [
    *(Scope(owner=o) for o in OWNERS),
    Scope(policies=frozenset({"funnel-list"})),
    Scope(policies=frozenset({"five-level"})),  # no deal of the histories follows it
    Scope(),  # no restriction: fails closed
]
# Later than any effective time the histories write: the state after all the events.
AFTER_ALL = T0 + timedelta(days=1000)


@PROPERTY
@given(steps=histories(with_deals=True), data=st.data())
def test_the_accounts_reached_are_those_the_rule_gives_for_every_scope(
    kind: str, tmp_path: Path, steps: list[Step], data: st.DataObject
) -> None:
    with store_with_read_models(kind, tmp_path) as (engine, clock, caught_up):
        built = apply(engine, clock, steps)
        sql = caught_up()
        accounts = Accounts(engine)
        owners = {
            key: accounts.state(key, AFTER_ALL).owner
            for key in ACCOUNTS
            if accounts.find(key) is not None
        }
        deals = [found.state for d in DEALS if (found := engine.find(d)) is not None]
        t, k = draw_instants(data, built)
        with sql.connect() as conn:
            for scope in SCOPES:
                got = reachable_accounts(conn, engine, scope)
                assert got is not None
                through_deals = {
                    d.account
                    for d in deals
                    if d.account is not None and scope.admits(d.owner, d.team, d.policy)
                }
                if scope.policies:
                    expected = through_deals
                else:
                    own = {a for a, owner in owners.items() if scope.admits(owner, None, None)}
                    expected = own | {a for a in through_deals if a not in owners}
                assert got == expected, scope
                views = account_views(conn, accounts, as_of=t, known_at=k, keys=got, scope=scope)
                assert {v.account for v in views} <= got
                for v in views:
                    for d in v.deals:
                        now = engine.find(d.deal)
                        assert now is not None
                        s = now.state
                        assert scope.admits(s.owner, s.team, s.policy), (scope, d.deal)
