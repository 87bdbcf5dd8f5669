"""The roles of a sales organisation and what each may do, as data.

One table, ``PERMISSIONS``, answers every "may this role do that?": the service asks
it, the documentation (docs/access.md) prints it, and the tests walk it. Which deals
an action reaches is the principal's scope (``principal.Scope``), not the role's.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Role(StrEnum):
    REP = "rep"
    MANAGER = "manager"
    AUDITOR = "auditor"
    INTEGRATION = "integration"
    ADMIN = "admin"

    @property
    def named(self) -> str:
        """The role with its article, as a sentence says it: "an auditor", "a rep"."""
        return f"{'an' if self.value[0] in 'aeiou' else 'a'} {self.value}"


class Action(StrEnum):
    READ_DEALS = "read_deals"  # deal lists, one deal, every report
    READ_HISTORY = "read_history"  # a deal's events: the auditor's replay
    EXPORT = "export"  # whole histories out (XES, tables)
    READ_FEED = "read_feed"  # the change feed of deal events
    WRITE_COMMANDS = "write_commands"  # the command language: deals and accounts
    WRITE_QUOTAS = "write_quotas"  # its quota commands too: set and clear targets
    MANAGE_TOKENS = "manage_tokens"
    MANAGE_POLICIES = "manage_policies"
    ERASE_PERSONAL_DATA = "erase_personal_data"  # crypto-shred a data subject (docs/privacy.md)


_READ = frozenset({Action.READ_DEALS, Action.READ_HISTORY})

PERMISSIONS: Mapping[Role, frozenset[Action]] = MappingProxyType(
    {
        # Reads and writes the deals and accounts they own, history included; no bulk
        # export; their own quota is set for them, not by them.
        Role.REP: _READ | {Action.WRITE_COMMANDS},
        # Reads and writes the team's deals and accounts, sets the quotas of the team
        # and its reps, and may export them.
        Role.MANAGER: _READ | {Action.WRITE_COMMANDS, Action.WRITE_QUOTAS, Action.EXPORT},
        # Reads everything, history, exports and feed included; writes nothing.
        Role.AUDITOR: _READ | {Action.EXPORT, Action.READ_FEED},
        # A system, not a person: writes commands (a planning system's quotas among them)
        # and follows the feed of its deals; it reads those deals too, to know where a
        # deal stands before it writes.
        Role.INTEGRATION: frozenset(
            {Action.WRITE_COMMANDS, Action.WRITE_QUOTAS, Action.READ_FEED, Action.READ_DEALS}
        ),
        # The only role that manages tokens and policies and erases personal data (which
        # cannot be undone); it may do all the rest too.
        Role.ADMIN: frozenset(Action),
    }
)


def may(role: Role, action: Action) -> bool:
    return action in PERMISSIONS[role]
