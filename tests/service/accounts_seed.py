"""Accounts over the service tests' deals (tests/service/conftest.py), recorded through
the account service as a setup would: three recorded accounts named by deals, one named
by a deal alone (implicit), and one no deal names."""

from __future__ import annotations

from typing import Any

from salesengine.application.account_commands import parse_account_command
from salesengine.application.accounts import Accounts
from tests.service.conftest import Api

AS_OF = "2026-03-20T00:00:00+00:00"

ACCOUNT_COMMANDS: list[dict[str, Any]] = [
    {"cmd": "account_open", "account": "Account N-1", "owner": "ana", "team": "north",
     "name": "北方机械", "region": "华北", "at": "2026-02-01T09:00:00+00:00"},
    {"cmd": "buying_power", "account": "Account N-1", "amount": "1500000", "currency": "CNY",
     "at": "2026-02-02T09:00:00+00:00"},
    {"cmd": "share_of_wallet", "account": "Account N-1", "percent": "30",
     "at": "2026-02-02T09:00:00+00:00"},
    {"cmd": "contact_add", "account": "Account N-1", "contact": "wang", "name": "Wang Wei",
     "title": "CIO", "role": "decision_maker", "support": 2, "at": "2026-02-03T09:00:00+00:00"},
    {"cmd": "contact_add", "account": "Account N-1", "contact": "li", "name": "Li Na",
     "role": "influencer", "support": -1, "reports_to": "wang",
     "at": "2026-02-04T09:00:00+00:00"},
    {"cmd": "contact_add", "account": "Account N-1", "contact": "zhao", "name": "Zhao Lei",
     "role": "end_user", "support": 0, "reports_to": "li", "at": "2026-02-05T09:00:00+00:00"},
    {"cmd": "activity", "account": "Account N-1", "kind": "seminar", "effective": True,
     "attendees": ["wang"], "at": "2026-03-15T09:00:00+00:00"},
    {"cmd": "account_open", "account": "Account N-3", "owner": "bo", "team": "north",
     "at": "2026-02-01T09:00:00+00:00"},
    {"cmd": "account_open", "account": "Account S-1", "owner": "chen 陈", "team": "south",
     "at": "2026-02-01T09:00:00+00:00"},
    {"cmd": "grade", "account": "Account S-1", "grade": "A", "at": "2026-02-01T10:00:00+00:00"},
    {"cmd": "account_open", "account": "Orphan", "owner": "dee", "team": "east",
     "at": "2026-02-01T09:00:00+00:00"},
]  # fmt: skip


def seed_accounts(api: Api) -> None:
    accounts = Accounts(api.context.engine)
    for raw in ACCOUNT_COMMANDS:
        result = accounts.execute(parse_account_command({**raw, "by": "setup"}))
        assert result.status == "applied"
    api.caught_up()
