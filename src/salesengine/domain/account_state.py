"""An account (客户) at some instant: a pure value folded from its events, and the rules
that read it: the RAD cell, the customer grades, the decision-chain roles and the
support scale (docs/accounts.md; the numbers in docs/metrics.md, "Accounts").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

# The roles a contact plays in the decision (DOMAIN.md, 案情追踪 "decision").
ROLES: tuple[str, ...] = (
    "initiator",
    "decision_maker",
    "influencer",
    "end_user",
    "policy_maker",
)
# Support for us, from -2 (opponent) to +2 (supporter, our coach); 0 is neutral.
SUPPORT_MIN, SUPPORT_MAX = -2, 2
SUPPORT_NAMES: Mapping[int, str] = MappingProxyType(
    {-2: "opponent", -1: "leans against", 0: "neutral", 1: "leans to us", 2: "supporter"}
)
CUSTOMER_KINDS: tuple[str, ...] = ("new", "existing")
ACCOUNT_GRADES: tuple[str, ...] = ("A", "B", "C", "D")
# The kinds of activity (养单) the commands suggest; any key is taken.
ACTIVITY_KINDS: tuple[str, ...] = (
    "visit",
    "call",
    "seminar",
    "product_launch",
    "gift",
    "dinner",
    "email",
)

# RAD (DOMAIN.md 4). Buying power: over 1,000,000 is class 1, 500,000 up to and
# including 1,000,000 class 2, under 500,000 class 3. Share of wallet: over 50% is R
# (retention), 10% up to and including 50% D (development), under 10% A (acquisition).
BP_OVER_1 = Decimal(1_000_000)
BP_FROM_2 = Decimal(500_000)
SOW_OVER_R = Decimal(50)
SOW_FROM_D = Decimal(10)

_NO_CONTACTS: MappingProxyType[str, Contact] = MappingProxyType({})


def bp_class(buying_power: Decimal) -> int:
    """1, 2 or 3: the buying power's RAD class (1,000,000 itself is class 2, 500,000 too)."""
    if buying_power > BP_OVER_1:
        return 1
    if buying_power >= BP_FROM_2:
        return 2
    return 3


def sow_letter(share: Decimal) -> str:
    """R, D or A: the share of wallet's RAD letter (50% itself is D, 10% too)."""
    if share > SOW_OVER_R:
        return "R"
    if share >= SOW_FROM_D:
        return "D"
    return "A"


def rad_cell(buying_power: Decimal | None, share: Decimal | None) -> str | None:
    """R1..A3, or None while either fact is unknown."""
    if buying_power is None or share is None:
        return None
    return f"{sow_letter(share)}{bp_class(buying_power)}"


RAD_CELLS: tuple[str, ...] = tuple(f"{s}{b}" for s in "RDA" for b in "123")


def rad_refusal(text: str) -> str | None:
    """Why ``text`` names no RAD cell (the words every reader of a filter shows), or None."""
    return None if text in RAD_CELLS else f"{text!r} is not a RAD cell (R1 .. A3)"


@dataclass(frozen=True, slots=True)
class Contact:
    """A person at the account, as recorded: role and support are our reading of them."""

    key: str
    name: str
    title: str | None
    role: str
    support: int
    reports_to: str | None
    since: datetime
    left_at: datetime | None = None
    left_reason: str | None = None

    @property
    def present(self) -> bool:
        return self.left_at is None

    def evolve(self, **changes: Any) -> Contact:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, slots=True)
class Activity:
    """One nurturing activity (养单) logged on the account."""

    kind: str
    effective: bool
    attendees: tuple[str, ...]
    note: str | None
    at: datetime
    actor: str
    version: int


@dataclass(frozen=True, slots=True)
class AccountState:
    key: str = ""
    name: str = ""
    owner: str = ""
    team: str | None = None
    region: str | None = None
    industry: str | None = None
    customer: str | None = None  # "new" or "existing"
    opened_at: datetime | None = None
    adopted_from: str | None = None  # the deal whose account string it was recorded from
    buying_power: Decimal | None = None
    bp_currency: str | None = None
    bp_at: datetime | None = None
    share_of_wallet: Decimal | None = None  # percent, 0-100
    sow_at: datetime | None = None
    grade: str | None = None  # set explicitly; None: derived from the account's deals
    grade_at: datetime | None = None
    contacts: Mapping[str, Contact] = field(default_factory=lambda: _NO_CONTACTS)
    activities: tuple[Activity, ...] = ()

    @property
    def exists(self) -> bool:
        return self.opened_at is not None

    @property
    def rad(self) -> str | None:
        return rad_cell(self.buying_power, self.share_of_wallet)

    def evolve(self, **changes: Any) -> AccountState:
        return dataclasses.replace(self, **changes)

    def with_contact(self, contact: Contact) -> AccountState:
        contacts = dict(self.contacts)
        contacts[contact.key] = contact
        return self.evolve(contacts=MappingProxyType(contacts))

    def present_contacts(self) -> list[Contact]:
        return [c for c in self.contacts.values() if c.present]


def chart_problem(contacts: Mapping[str, Contact]) -> tuple[str, str] | None:
    """What is wrong with the org chart, if anything: ("unknown", text) for a reporting
    line to a contact the account does not have, ("cycle", text) for a loop."""
    for contact in contacts.values():
        if contact.reports_to is not None and contact.reports_to not in contacts:
            return (
                "unknown",
                f"contact '{contact.key}' would report to '{contact.reports_to}', "
                "who is not a contact of the account",
            )
    for start in contacts:
        path = [start]
        boss = contacts[start].reports_to
        while boss is not None:
            path.append(boss)
            if boss == start:
                return ("cycle", " → ".join(path))
            if len(path) > len(contacts):
                break  # a loop not through start: found from one of its own members
            boss = contacts[boss].reports_to
    return None
