"""The API's reports say exactly what the command line's ``--json`` says for the same
question, on the same store; the deals list pages through every deal it reaches."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.service.conftest import Api
from tests.support.cli_runner import salesengine

# (API path and query, the same question on the command line)
QUESTIONS: list[tuple[str, dict[str, str], list[str]]] = [
    ("funnel", {"as_of": "2026-03-12"}, ["funnel", "--as-of", "2026-03-12"]),
    (
        "funnel",
        {"as_of": "2026-03-12", "by": "owner"},
        ["funnel", "--as-of", "2026-03-12", "--by", "owner"],
    ),
    (
        "funnel",
        {"as_of": "2026-03-12", "known_at": "2026-01-01"},
        ["funnel", "--as-of", "2026-03-12", "--known-at", "2026-01-01"],
    ),
    (
        "compare",
        {"as_of": "2026-03-05", "to": "2026-03-12", "by": "team"},
        ["funnel", "--as-of", "2026-03-05", "--compare", "2026-03-12", "--by", "team"],
    ),
    (
        "conversion",
        {"from": "2026-03-01", "until": "2026-04-01"},
        ["conversion", "--from", "2026-03-01", "--to", "2026-04-01"],
    ),
    (
        "cycle-time",
        {"from": "2026-03-01", "until": "2026-04-01", "by": "team"},
        ["cycle-time", "--from", "2026-03-01", "--to", "2026-04-01", "--by", "team"],
    ),
    ("forecast", {"as_of": "2026-03-12"}, ["forecast", "--as-of", "2026-03-12"]),
    (
        "health",
        {"as_of": "2026-04-20", "by": "team"},
        ["health", "--as-of", "2026-04-20", "--by", "team"],
    ),
    (
        "plan",
        {"target": "20000", "period": "2026-04", "policy": "five-level", "as_of": "2026-03-31"},
        [
            *("plan", "--target", "20000", "--period", "2026-04"),
            *("--policy", "five-level", "--as-of", "2026-03-31"),
        ],
    ),
]


@pytest.mark.parametrize(("report", "query", "argv"), QUESTIONS, ids=[q[0] for q in QUESTIONS])
def test_each_report_answers_what_the_command_line_prints(
    api: Api, report: str, query: dict[str, str], argv: list[str]
) -> None:
    answer = api.get("auditor", f"/api/v1/reports/{report}", **query)
    assert answer.status_code == 200, answer.text
    assert int(answer.headers["x-read-models-behind"]) == 0
    assert int(answer.headers["x-log-position"]) > 0
    printed = salesengine(*argv, "--json", env={"SALESENGINE_DB": api.db})
    assert printed.returncode == 0, printed.stderr
    expected: dict[str, Any] = json.loads(printed.stdout)
    assert answer.json() == expected
    if "known_at" in query:  # before anything was recorded: nothing was known
        assert expected["rows"] == []
        return
    shown = ("rows", "weeks", "weighted_pipeline", "grades", "summary", "stages")
    assert any(expected.get(k) for k in shown), expected


def test_the_reports_refuse_bad_parameters_naming_them(api: Api) -> None:
    cases = [
        ("funnel", {"as_of": "yesterday"}, "query.as_of"),
        ("funnel", {"by": "colour"}, "query.by"),
        ("funnel", {"policy": "no-such"}, "query.policy"),
        ("funnel", {"size_bands": "100,50", "by": "size"}, "query.size_bands"),
        ("funnel", {"size_bands": "100"}, "query.size_bands"),
        ("compare", {"as_of": "2026-03-12", "to": "2026-03-01"}, "query.to"),
        ("conversion", {"from": "2026-04-01", "until": "2026-03-01"}, "query.until"),
        ("conversion", {"from": "2026-04-01"}, "query.until"),
        ("health", {"limit": "0"}, "query.limit"),
        ("plan", {"target": "-5", "period": "2026-04", "policy": "five-level"}, "query.target"),
        ("plan", {"target": "lots", "period": "2026-04", "policy": "five-level"}, "query.target"),
        ("plan", {"target": "100", "period": "2026-Q9", "policy": "five-level"}, "query.period"),
        ("plan", {"target": "100", "period": "2026-04", "policy": "nope"}, "query.policy"),
    ]
    for report, query, field in cases:
        answer = api.get("admin", f"/api/v1/reports/{report}", **query)
        assert answer.status_code == 422, (report, query, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in answer.json()["errors"]] == [field], answer.json()


def all_pages(api: Api, who: str, **query: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = api.get(who, "/api/v1/deals", **query, **({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


def test_the_deals_list_pages_through_what_the_caller_reaches(api: Api) -> None:
    everything = all_pages(api, "admin", limit=1)
    assert [d["key"] for d in everything] == ["N-1", "N-2", "N-3", "S-1"]
    assert [d["key"] for d in all_pages(api, "ana", limit=1)] == ["N-1", "N-2"]
    assert [d["key"] for d in all_pages(api, "north", limit=2)] == ["N-1", "N-2", "N-3"]
    contacted = all_pages(api, "admin", stage="contacted")
    assert [d["key"] for d in contacted] == ["N-1", "N-3", "S-1"]
    assert [d["key"] for d in all_pages(api, "admin", q="account s")] == ["S-1"]
    early = all_pages(api, "admin", as_of="2026-03-04")
    assert [d["key"] for d in early] == ["N-1", "N-2"]
    chen = next(d for d in everything if d["key"] == "S-1")
    assert chen["owner"] == "chen 陈" and chen["amount"] == "7000" and chen["status"] == "open"
    bad = api.get("admin", "/api/v1/deals", cursor="!!not-a-cursor")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.cursor"


def test_the_status_says_how_far_the_read_models_are_behind(api: Api) -> None:
    before = api.get("crm", "/api/v1/status").json()
    assert before["behind"] == 0 and before["log_position"] > 0
    visit = {"cmd": "visit", "deal": "N-1", "at": "2026-03-20T10:00:00+00:00"}
    assert api.post("crm", "/api/v1/commands", visit).status_code == 200
    after = api.get("crm", "/api/v1/status").json()  # the fixture's service follows nothing
    assert after["log_position"] == before["log_position"] + 1 and after["behind"] == 1
    lagging = api.get("admin", "/api/v1/reports/funnel")
    assert lagging.headers["x-read-models-behind"] == "1"
    api.caught_up()
    assert api.get("admin", "/api/v1/reports/funnel").headers["x-read-models-behind"] == "0"
