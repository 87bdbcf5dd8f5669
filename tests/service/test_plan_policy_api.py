"""GET /reports/plan without a policy plans the one policy of the caller's deals, as
``salesengine plan`` plans the store's one policy; chosen within the caller's scope, so
that neither the choice nor a refusal tells of deals out of it."""

from __future__ import annotations

from salesengine.access.roles import Role
from tests.service.conftest import Api

PLAN = "/api/v1/reports/plan"
ASKED = {"period": "2026-Q1", "target": "9000", "as_of": "2026-03-31T00:00:00+00:00"}


def test_given_one_policy_when_none_is_named_then_the_plan_is_of_it(api: Api) -> None:
    for who in ("ana", "north", "admin"):
        answer = api.get(who, PLAN, **ASKED)
        assert answer.status_code == 200, (who, answer.text)
        named = api.get(who, PLAN, **ASKED, policy="five-level")
        assert answer.json()["policy"] == "five-level"
        assert answer.json() | {"as_of": None} == named.json() | {"as_of": None}


def test_given_another_policy_out_of_scope_then_the_default_ignores_it(api: Api) -> None:
    south = {"cmd": "open", "deal": "S-9", "policy": "funnel-list", "owner": "chen 陈",
             "team": "south", "at": "2026-03-05T09:00:00+00:00"}  # fmt: skip
    assert api.post("admin", "/api/v1/commands", south).status_code == 200
    api.caught_up()
    assert api.get("north", PLAN, **ASKED).json()["policy"] == "five-level"
    several = api.get("admin", PLAN, **ASKED)
    assert several.status_code == 422
    assert several.json()["errors"] == [
        {"field": "query.policy",
         "message": "your deals follow several policies (five-level, funnel-list): name one"}
    ]  # fmt: skip
    east = api.context.tokens.create("east-lead", Role.MANAGER, teams=["east"]).text
    none = api.client.get(PLAN, params=ASKED, headers={"Authorization": f"Bearer {east}"})
    assert none.status_code == 422
    assert "funnel-list" not in none.text and "five-level" not in none.text


def test_given_an_unknown_policy_then_it_is_an_invalid_request_naming_the_parameter(
    api: Api,
) -> None:
    answer = api.get("ana", PLAN, **ASKED, policy="nope")
    assert answer.status_code == 422
    assert answer.json()["code"] == "invalid_request"
    assert answer.json()["errors"][0]["field"] == "query.policy"
