"""The decision chain of an account as of T, known at K: its present contacts as an org
chart (each superior before their reports) and who plays each role (docs/accounts.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from salesengine.reports.accounts import AccountView, ContactView


@dataclass(frozen=True, slots=True)
class ChainNode:
    contact: ContactView
    depth: int  # 0 for someone who reports to no present contact


@dataclass(frozen=True, slots=True)
class DecisionChain:
    account: str
    as_of: datetime
    known_at: datetime | None
    nodes: list[ChainNode]  # the org chart, depth first, each superior before their reports
    by_role: dict[str, list[str]]  # role -> the present contacts in it
    left: list[ContactView]  # contacts who had left by T


def decision_chain(view: AccountView, known_at: datetime | None, as_of: datetime) -> DecisionChain:
    """The account's present contacts as an org chart, and who plays each role, at T."""
    present = {c.contact: c for c in view.contacts if c.left_at is None}
    reports: dict[str | None, list[ContactView]] = {}
    for c in present.values():
        boss = c.reports_to if c.reports_to in present else None
        reports.setdefault(boss, []).append(c)
    nodes: list[ChainNode] = []

    def walk(boss: str | None, depth: int) -> None:
        for c in sorted(reports.get(boss, []), key=lambda c: c.contact):
            nodes.append(ChainNode(c, depth))
            walk(c.contact, depth + 1)

    walk(None, 0)
    by_role: dict[str, list[str]] = {}
    for c in sorted(present.values(), key=lambda c: c.contact):
        by_role.setdefault(c.role, []).append(c.contact)
    left = [c for c in view.contacts if c.left_at is not None]
    return DecisionChain(view.account, as_of, known_at, nodes, by_role, left)
