"""Scopes of each kind over the test histories' names, and the same history kept to some
deals: the brute-force store a scoped report is checked against.

A history's deals never touch one another (each command names one deal, and a deal's
recorded times depend on the clock and its own events alone), so a store built from the
commands of some deals, with the recording clock moving exactly as in the whole
history, holds those deals event for event, at the same recorded instants.
"""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import strategies as st

from salesengine.access.principal import Scope, scope_for
from salesengine.access.roles import Role
from salesengine.domain.deal import Deal
from tests.support.histories import EDIT, OWNERS, POLICIES, TEAMS, Step

# Names the histories use, and one of each they never do.
owners = st.sampled_from([*OWNERS, "nobody"])
teams = st.lists(st.sampled_from([*TEAMS, "west"]), min_size=1, max_size=2)
policies = st.lists(st.sampled_from([*sorted(POLICIES), "bpi2012"]), min_size=1, max_size=2)

rep_scopes = st.builds(lambda o: scope_for(Role.REP, owner=o), owners)
manager_scopes = st.builds(lambda t: scope_for(Role.MANAGER, teams=t), teams)
integration_scopes = st.one_of(
    st.builds(lambda p: scope_for(Role.INTEGRATION, policies=p), policies),
    st.builds(lambda p, t: scope_for(Role.INTEGRATION, policies=p, teams=t), policies, teams),
)


def keys_in_scope(deals: Iterable[Deal], scope: Scope) -> set[str]:
    """The keys of the deals ``scope`` admits by their state after all their events."""
    return {d.state.key for d in deals if scope.admits(d.state.owner, d.state.team, d.state.policy)}


def only_deals(steps: list[Step], keys: set[str]) -> list[Step]:
    """The history's commands of the deals ``keys`` (and its policy edits), the clock
    moving before each as far as it did in the whole history."""
    kept: list[Step] = []
    ticks = 0
    for step in steps:
        ticks += step.tick_minutes
        if step.command["cmd"] == EDIT or step.command.get("deal") in keys:
            kept.append(Step(ticks, step.command))
            ticks = 0
    return kept
