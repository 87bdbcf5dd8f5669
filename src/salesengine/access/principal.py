"""Principals and their scope: who is acting, in which role, over which deals.

A deal is in a principal's scope by its *current* attributes (its latest known owner,
team and policy), the way CRMs share records: a deal handed to another rep leaves the
first rep's reports for every instant, past ones included. Reports at an instant T
would otherwise let a rep read, through the past, deals that are no longer theirs.
``scope_sql.in_scope`` is the same rule in SQL; ``Scope.admits`` is it in Python.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from salesengine.access.roles import Action, Role, may
from salesengine.application.names import checked_name

ScopeField = Literal["owner", "team", "policy"]


class ScopeError(ValueError):
    """A scope that does not fit its role; ``field`` names what to change."""

    def __init__(self, field: ScopeField, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Scope:
    """Which deals a principal reaches. ``everything``: all of them. Otherwise each
    restriction given applies, together (an integration for policy P and team T reaches
    team T's deals of policy P); with none given, no deal at all: a scope fails closed."""

    everything: bool = False
    owner: str | None = None
    teams: frozenset[str] = field(default_factory=frozenset)
    policies: frozenset[str] = field(default_factory=frozenset)

    @property
    def restricted(self) -> bool:
        return not self.everything

    def admits(self, owner: str | None, team: str | None, policy: str | None) -> bool:
        """Whether a deal with these current attributes is in scope."""
        if self.everything:
            return True
        if self.owner is None and not self.teams and not self.policies:
            return False
        return (
            (self.owner is None or owner == self.owner)
            and (not self.teams or team in self.teams)
            and (not self.policies or policy in self.policies)
        )

    def describe(self) -> str:
        """The scope in a few words, for listings."""
        if self.everything:
            return "all deals"
        parts = []
        if self.owner is not None:
            parts.append(f"owner {self.owner}")
        if self.teams:
            parts.append("team " + " or ".join(sorted(self.teams)))
        if self.policies:
            parts.append("policy " + " or ".join(sorted(self.policies)))
        return ", ".join(parts) or "no deals"


EVERYTHING = Scope(everything=True)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: ``name`` is recorded as the actor of the events they write."""

    name: str
    role: Role
    scope: Scope
    token_id: str | None = None  # the token that authenticated them, if any

    def may(self, action: Action) -> bool:
        return may(self.role, action)


def scope_for(
    role: Role,
    *,
    owner: str | None = None,
    teams: Iterable[str] = (),
    policies: Iterable[str] = (),
) -> Scope:
    """The scope of a principal of ``role``, checked against what the role takes: a rep
    needs an owner, a manager one or more teams, an integration teams or policies (or
    both); an auditor and an admin reach every deal and take none. Names follow the
    command language's rules (stripped, 1 to 200 characters, no control characters)."""
    owner = None if owner is None else _name("owner", owner)
    team_set = frozenset(_name("team", t) for t in teams)
    policy_set = frozenset(_name("policy", p) for p in policies)
    given: dict[ScopeField, bool] = {
        "owner": owner is not None,
        "team": bool(team_set),
        "policy": bool(policy_set),
    }
    takes: dict[Role, tuple[ScopeField, ...]] = {
        Role.REP: ("owner",),
        Role.MANAGER: ("team",),
        Role.INTEGRATION: ("team", "policy"),
        Role.AUDITOR: (),
        Role.ADMIN: (),
    }
    for name, present in given.items():
        if present and name not in takes[role]:
            reach = "every deal" if not takes[role] else "deals by " + " and ".join(takes[role])
            raise ScopeError(name, f"{role.named} reaches {reach}: it takes no {name}")
    if role is Role.REP and owner is None:
        raise ScopeError("owner", "a rep needs the owner whose deals it reaches")
    if role is Role.MANAGER and not team_set:
        raise ScopeError("team", "a manager needs the team (or teams) whose deals it reaches")
    if role is Role.INTEGRATION and not team_set and not policy_set:
        raise ScopeError(
            "policy", "an integration needs the policies or teams (or both) of its deals"
        )
    if role in (Role.AUDITOR, Role.ADMIN):
        return EVERYTHING
    return Scope(owner=owner, teams=team_set, policies=policy_set)


def _name(field_name: ScopeField, value: str) -> str:
    try:
        return checked_name(value)
    except ValueError as e:
        raise ScopeError(field_name, f"{value!r}: {e}") from None
