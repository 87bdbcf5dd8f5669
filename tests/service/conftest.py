"""A service over a real store (SQLite and PostgreSQL), seeded through its own API by
an admin, with a token of every role: the tests ask it as each of them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from salesengine.access.roles import Role
from salesengine.bootstrap import build_engine
from salesengine.service.app import create_app
from salesengine.service.context import ServiceContext, ServiceSettings
from tests.support.commands import FIVE_LEVEL_OPENING

# Two teams, three reps; deals opened 2026-03-02 and moved during March.
DEALS: list[dict[str, Any]] = [
    {"deal": "N-1", "owner": "ana", "team": "north", "amount": "1000"},
    {"deal": "N-2", "owner": "ana", "team": "north", "amount": "2500"},
    {"deal": "N-3", "owner": "bo", "team": "north", "amount": "4000"},
    {"deal": "S-1", "owner": "chen 陈", "team": "south", "amount": "7000"},
]
CONTACTED = {
    "decision_makers_identified": True,
    "key_needs_confirmed": True,
    "meetings_recorded": True,
}


@dataclass
class Api:
    client: TestClient
    context: ServiceContext
    tokens: dict[str, str]  # by who: "admin", "auditor", "ana" (rep), "north" (manager), ...
    db: str

    def get(self, who: str, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.auth(who))

    def post(self, who: str, path: str, body: Any) -> Any:
        return self.client.post(path, json=body, headers=self.auth(who))

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def caught_up(self) -> None:
        self.context.runner.catch_up()


def seed_commands() -> list[dict[str, Any]]:
    commands: list[dict[str, Any]] = []
    for n, d in enumerate(DEALS):
        commands.append(
            {
                "cmd": "open",
                "id": f"open-{d['deal']}",
                "policy": "five-level",
                "account": f"Account {d['deal']}",
                "currency": "CNY",
                "at": f"2026-03-0{2 + n}T09:00:00+00:00",
                "facts": FIVE_LEVEL_OPENING,
                **d,
            }
        )
    for key in ("N-1", "N-3", "S-1"):
        for name in CONTACTED:
            commands.append(
                {"cmd": "fact", "deal": key, "name": name, "at": "2026-03-10T09:00:00+00:00"}
            )
        commands.append(
            {"cmd": "advance", "deal": key, "to": "contacted", "at": "2026-03-11T09:00:00+00:00"}
        )
    return commands


def make_api(db: str) -> Iterator[Api]:
    settings = ServiceSettings(db=db, follow=False)
    build_engine(db, actor="setup").close()  # the store exists before the service opens it
    context = ServiceContext.open(settings)
    issued = {
        "admin": context.tokens.create("root", Role.ADMIN),
        "auditor": context.tokens.create("audit", Role.AUDITOR),
        "ana": context.tokens.create("ana", Role.REP, owner="ana"),
        "bo": context.tokens.create("bo", Role.REP, owner="bo"),
        "north": context.tokens.create("north-lead", Role.MANAGER, teams=["north"]),
        "crm": context.tokens.create("crm", Role.INTEGRATION, policies=["five-level"]),
    }
    tokens = {who: t.text for who, t in issued.items()}
    app = create_app(settings, context=context)
    with TestClient(app) as client:
        api = Api(client, context, tokens, db)
        answer = api.post("admin", "/api/v1/commands", seed_commands())
        assert answer.status_code == 200, answer.text
        api.caught_up()
        yield api
    context.stop()


@pytest.fixture
def api(store_url: str) -> Iterator[Api]:
    yield from make_api(store_url)
