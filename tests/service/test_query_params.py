"""Query parameters: one an endpoint does not take is refused, naming it, rather than
ignored (a misspelt ``asof`` would otherwise answer for now without a word)."""

from __future__ import annotations

import pytest

from tests.service.conftest import Api

PATHS = [
    "/api/v1/me",
    "/api/v1/status",
    "/api/v1/policies",
    "/api/v1/policies/five-level",
    "/api/v1/deals",
    "/api/v1/deals/N-1",
    "/api/v1/deals/N-1/history",
    "/api/v1/reports/funnel",
    "/api/v1/reports/forecast",
    "/api/v1/reports/health",
]


@pytest.mark.parametrize("path", PATHS)
def test_an_unknown_query_parameter_is_refused_naming_it(api: Api, path: str) -> None:
    answer = api.get("admin", path, asof="2026-03-05")
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["code"] == "invalid_request"
    assert [e["field"] for e in body["errors"]] == ["query.asof"]
    assert api.get("admin", path).status_code == 200


def test_the_refusal_lists_what_the_endpoint_takes(api: Api) -> None:
    body = api.get("admin", "/api/v1/reports/funnel", as_of="2026-04-01", bogus="1").json()
    message = body["errors"][0]["message"]
    for name in ("as_of", "known_at", "by", "policy", "size_bands"):
        assert name in message
    assert "query.bogus" in body["detail"]


def test_without_a_token_the_answer_is_still_401(api: Api) -> None:
    answer = api.client.get("/api/v1/reports/funnel", params={"asof": "2026-03-05"})
    assert answer.status_code == 401


def test_a_command_takes_no_query_parameter(api: Api) -> None:
    visit = {"cmd": "visit", "deal": "N-1", "at": "2026-03-20T10:00:00+00:00"}
    answer = api.client.post("/api/v1/commands?dry_run=1", json=visit, headers=api.auth("admin"))
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "query.dry_run"
    history = api.get("admin", "/api/v1/deals/N-1/history").json()
    assert all(e["type"] != "VisitLogged" for e in history["events"])
