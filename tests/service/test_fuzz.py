"""The whole API fuzzed from its own OpenAPI document (schemathesis), in process, on a
seeded store (SQLite and PostgreSQL), as an admin: no answer is a server error, and
every answer has a declared status, content type, headers and schema.

Requests are generated both within the document (valid parameters and commands) and
outside it (wrong types, missing fields, values past their bounds), which must be
refused with a 4xx problem document. ``SALESENGINE_FUZZ_EXAMPLES`` sets how many
requests each operation gets (default 25: the whole run takes about a minute)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case, checks
from starlette.types import ASGIApp, Receive, Scope, Send

from salesengine.service.app import create_app
from salesengine.service.context import ServiceSettings
from tests.service.conftest import Api

EXAMPLES = int(os.environ.get("SALESENGINE_FUZZ_EXAMPLES", "25"))

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    # A request outside the document is refused (4xx), never taken as valid.
    checks.negative_data_rejection,
    # The answer without the token is not the answer with it.
    checks.ignored_auth,
]


class CurrentApp:
    """The app of the test running now, behind one ASGI app that schemathesis can hold
    for the module (it keeps one per schema, and its own checks resend to it). Each
    test's app is started by its fixture; the lifespan is answered here."""

    def __init__(self, target: FastAPI) -> None:
        self.target: ASGIApp = target

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.target(scope, receive, send)
            return
        while True:
            kind = (await receive())["type"].removeprefix("lifespan.")
            await send({"type": f"lifespan.{kind}.complete"})
            if kind == "shutdown":
                return


# Until a test sets its own, an app without a store: it serves the OpenAPI document.
CURRENT = CurrentApp(create_app(ServiceSettings()))
# The stream never ends, and a test client reads an answer whole: test_feed_api.py reads
# it from a real server.
document = schemathesis.openapi.from_asgi("/api/v1/openapi.json", CURRENT).exclude(
    path="/api/v1/feed/stream"
)
# Every request carries the admin's token (below): none is generated in its place, so a
# request is never taken as invalid for a header that is in fact sent.
document.config.generation.update(with_security_parameters=False)


@pytest.fixture
def fuzzed(api: Api) -> Iterator[Api]:
    before = CURRENT.target
    CURRENT.target = api.client.app
    yield api
    CURRENT.target = before


@document.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    # One seeded store per operation, shared by its examples: a write that one example
    # makes is there for the next, as it would be on a running service.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_every_answer_is_declared_and_none_is_a_server_error(case: Case[Any], fuzzed: Api) -> None:
    shorten_the_long_poll(case)
    case.call_and_validate(headers=fuzzed.auth("admin"), checks=CHECKS)


def shorten_the_long_poll(case: Case[Any]) -> None:
    """A valid ``wait`` of the feed holds an empty answer that long (up to 30 s): cut to
    a few milliseconds, so the examples stay quick; an invalid one is kept, to be refused."""
    wait = (case.query or {}).get("wait")
    if case.path != "/api/v1/feed" or not isinstance(wait, int | float | str):
        return
    try:
        seconds = float(wait)
    except ValueError:
        return
    if 0 <= seconds <= 30:
        assert case.query is not None
        case.query["wait"] = min(seconds, 0.01)


GROUPINGS = [None, "owner", "team", "region", "policy", "size"]
WINDOW = {"from": "2026-03-01", "until": "2026-04-01"}
# Requests the generator seldom gets right (a real deal, a window in order, each
# grouping), so every document is checked with rows in it, not only empty.
ANSWERED: list[tuple[str, dict[str, str], dict[str, str]]] = [
    ("/api/v1/me", {}, {}),
    ("/api/v1/status", {}, {}),
    ("/api/v1/policies", {}, {}),
    ("/api/v1/policies/{name}", {"name": "five-level"}, {}),
    ("/api/v1/deals", {}, {"limit": "2"}),
    ("/api/v1/deals", {}, {"as_of": "2026-03-04", "known_at": "2099-01-01"}),
    ("/api/v1/deals/{key}", {"key": "N-1"}, {}),
    ("/api/v1/deals/{key}/history", {"key": "N-1"}, {}),
    ("/api/v1/deals/{key}/history", {"key": "N-1"}, {"as_of": "2026-03-01"}),
    # The accounts the deals name (implicit: no account event records them).
    ("/api/v1/accounts", {}, {"as_of": "2026-03-20"}),
    ("/api/v1/accounts/{key}", {"key": "Account N-1"}, {"as_of": "2026-03-20"}),
    ("/api/v1/accounts/{key}/chain", {"key": "Account N-1"}, {}),
    ("/api/v1/reports/coverage", {}, {"as_of": "2026-03-20"}),
    ("/api/v1/reports/review", {}, {"as_of": "2026-03-20", "sample": "5"}),
    *(
        (f"/api/v1/reports/{report}", {}, query | ({"by": by} if by else {}))
        for by in GROUPINGS
        for report, query in [
            ("funnel", {"as_of": "2026-04-01"}),
            ("compare", {"as_of": "2026-03-05", "to": "2026-04-01"}),
            ("conversion", WINDOW),
            ("cycle-time", WINDOW),
            ("forecast", {"as_of": "2026-03-15"}),
            ("health", {"as_of": "2026-04-15"}),
        ]
    ),
    ("/api/v1/quotas", {}, {"as_of": "2026-03-31"}),
    ("/api/v1/quotas", {}, {"as_of": "2026-03-31", "period": "2026-Q1"}),
    ("/api/v1/reports/vvalue", {}, {"as_of": "2026-03-31"}),
    ("/api/v1/reports/plan", {}, {"period": "2026-Q2", "policy": "five-level", "per": "rep",
                                  "target": "5000", "as_of": "2026-04-15"}),
    ("/api/v1/reports/portfolio/shape", {}, {"as_of": "2026-03-31"}),
    ("/api/v1/reports/portfolio/projection", {}, {"as_of": "2026-03-31", "horizon": "30"}),
    ("/api/v1/reports/portfolio/reps", {}, {"as_of": "2026-03-31", "target": "5000"}),
    ("/api/v1/reports/anomalies", {}, {"as_of": "2026-04-20"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "where", "query"), ANSWERED, ids=[f"{p} {q}" for p, _, q in ANSWERED]
)
def test_each_document_with_rows_matches_its_schema(
    fuzzed: Api, path: str, where: dict[str, str], query: dict[str, str]
) -> None:
    case = document[path]["GET"].Case(path_parameters=where, query=query)
    answer = case.call_and_validate(headers=fuzzed.auth("admin"), checks=CHECKS)
    assert answer.status_code == 200, answer.text


def test_the_answers_to_commands_match_their_schemas(fuzzed: Api) -> None:
    commands = document["/api/v1/commands"]["POST"]
    at = "2026-03-20T10:00:00+00:00"
    visit = {"cmd": "visit", "deal": "N-1", "at": at}
    advance = {"cmd": "advance", "deal": "N-2", "to": "contacted", "at": at}
    opening = {"cmd": "open", "deal": "N-1", "policy": "five-level", "at": at}
    expected: list[tuple[Any, int]] = [
        (visit, 200),
        ([visit, visit | {"deal": "S-1"}], 200),
        (advance, 422),  # a guard's refusal: its stage and unmet criteria
        (opening, 409),
        (visit | {"deal": "NO-SUCH"}, 404),
    ]
    for body, status in expected:
        case = commands.Case(body=body, media_type="application/json")
        answer = case.call_and_validate(headers=fuzzed.auth("admin"), checks=CHECKS)
        assert answer.status_code == status, (body, answer.text)
        if body is advance:
            assert answer.json()["code"] == "criteria_not_met"


def test_the_answers_to_erasures_match_their_schemas(fuzzed: Api) -> None:
    named = {"cmd": "visit", "deal": "N-1", "attendees": ["Wang Wei"], "note": "met Wang"}
    assert fuzzed.post("admin", "/api/v1/commands", named).status_code == 200
    erasures = document["/api/v1/erasures"]["POST"]
    expected: list[tuple[Any, int]] = [
        ({"subject": "person:Wang Wei"}, 201),  # the receipt
        ({"subject": "person:Wang Wei"}, 422),  # nothing left to erase
        ({"subject": "Wang Wei"}, 422),  # no form of a subject
        ({"subject": "deal:NO-SUCH"}, 404),
    ]
    for body, status in expected:
        case = erasures.Case(body=body, media_type="application/json")
        answer = case.call_and_validate(headers=fuzzed.auth("admin"), checks=CHECKS)
        assert answer.status_code == status, (body, answer.text)
