"""Roles, their permissions and the scope each role takes, without a store."""

from __future__ import annotations

from pathlib import Path

import pytest

from salesengine.access.principal import EVERYTHING, Principal, Scope, ScopeError, scope_for
from salesengine.access.roles import PERMISSIONS, Action, Role, may


def test_every_role_has_its_permissions_and_only_admin_manages() -> None:
    assert set(PERMISSIONS) == set(Role)
    table = {role: {a for a in Action if may(role, a)} for role in Role}
    assert table[Role.REP] == {Action.READ_DEALS, Action.READ_HISTORY, Action.WRITE_COMMANDS}
    assert table[Role.MANAGER] == table[Role.REP] | {Action.EXPORT, Action.WRITE_QUOTAS}
    assert Action.WRITE_COMMANDS not in table[Role.AUDITOR]
    assert Action.WRITE_QUOTAS not in table[Role.AUDITOR]
    assert [r for r in Role if Action.WRITE_QUOTAS in table[r]] == [
        Role.MANAGER,
        Role.INTEGRATION,
        Role.ADMIN,
    ]
    assert {Action.READ_DEALS, Action.READ_HISTORY, Action.EXPORT} <= table[Role.AUDITOR]
    assert {Action.WRITE_COMMANDS, Action.READ_FEED} <= table[Role.INTEGRATION]
    assert table[Role.ADMIN] == set(Action)
    managing = {Action.MANAGE_TOKENS, Action.MANAGE_POLICIES}
    assert [r for r in Role if table[r] & managing] == [Role.ADMIN]
    # Erasing personal data cannot be undone: the admin's alone.
    assert [r for r in Role if Action.ERASE_PERSONAL_DATA in table[r]] == [Role.ADMIN]


def test_a_principal_asks_its_roles_table() -> None:
    auditor = Principal("ines", Role.AUDITOR, EVERYTHING)
    assert auditor.may(Action.EXPORT)
    assert not auditor.may(Action.WRITE_COMMANDS)


@pytest.mark.parametrize(
    ("role", "given", "field"),
    [
        (Role.REP, {}, "owner"),
        (Role.REP, {"owner": "anna", "teams": ["east"]}, "team"),
        (Role.REP, {"owner": "anna", "policies": ["five-level"]}, "policy"),
        (Role.MANAGER, {}, "team"),
        (Role.MANAGER, {"teams": ["east"], "owner": "anna"}, "owner"),
        (Role.MANAGER, {"teams": ["east"], "policies": ["five-level"]}, "policy"),
        (Role.INTEGRATION, {}, "policy"),
        (Role.INTEGRATION, {"policies": ["five-level"], "owner": "anna"}, "owner"),
        (Role.AUDITOR, {"owner": "anna"}, "owner"),
        (Role.AUDITOR, {"teams": ["east"]}, "team"),
        (Role.ADMIN, {"policies": ["five-level"]}, "policy"),
        (Role.REP, {"owner": "  "}, "owner"),
        (Role.MANAGER, {"teams": ["east", "x" * 201]}, "team"),
        (Role.INTEGRATION, {"policies": ["bad\x00name"]}, "policy"),
    ],
)
def test_a_scope_that_does_not_fit_its_role_is_refused_naming_the_field(
    role: Role, given: dict[str, object], field: str
) -> None:
    with pytest.raises(ScopeError) as raised:
        scope_for(role, **given)  # type: ignore[arg-type]
    assert raised.value.field == field


def test_each_role_gets_the_scope_it_takes() -> None:
    assert scope_for(Role.REP, owner=" anna ") == Scope(owner="anna")
    assert scope_for(Role.MANAGER, teams=["east", "north", "east"]) == Scope(
        teams=frozenset({"east", "north"})
    )
    assert scope_for(Role.INTEGRATION, policies=["five-level"], teams=["east"]) == Scope(
        teams=frozenset({"east"}), policies=frozenset({"five-level"})
    )
    assert scope_for(Role.AUDITOR) is EVERYTHING
    assert scope_for(Role.ADMIN) is EVERYTHING


def test_a_scope_admits_deals_by_every_restriction_together_and_fails_closed() -> None:
    rep = Scope(owner="anna")
    assert rep.admits("anna", None, "five-level")
    assert not rep.admits("王芳", "east", "five-level")
    assert not rep.admits(None, None, "five-level")
    both = Scope(teams=frozenset({"east"}), policies=frozenset({"five-level"}))
    assert both.admits("x", "east", "five-level")
    assert not both.admits("x", "east", "seven-stage")
    assert not both.admits("x", "north", "five-level")
    assert not both.admits("x", None, "five-level")
    assert not Scope().admits("anna", "east", "five-level")
    assert EVERYTHING.admits(None, None, None)
    assert Scope().describe() == "no deals"
    assert both.describe() == "team east, policy five-level"


def test_the_documented_roles_table_is_the_permissions_table() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "access.md").read_text(encoding="utf-8")
    lines = [line for line in doc.splitlines() if line.startswith("| ")]
    header = next(line for line in lines if line.startswith("| role | read_deals"))
    actions = [Action(cell.strip()) for cell in header.strip("|").split("|")[1:]]
    assert set(actions) == set(Action)
    documented = {}
    for line in lines:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells[0] in set(Role) and len(cells) == len(actions) + 1:
            role = Role(cells[0])
            documented[role] = {a for a, c in zip(actions, cells[1:], strict=True) if c == "yes"}
    assert documented == {role: set(PERMISSIONS[role]) for role in Role}
