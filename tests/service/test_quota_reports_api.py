"""The quotas, the V value, the plan per rep and team, the portfolio and the anomalies
over HTTP: each says exactly what the command line's ``--json`` says on the same store,
each caller reads only the quotas and deals of their scope, and a deal or quota out of
scope never changes a figure the caller reads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from salesengine.application.quota_commands import parse_quota_command
from salesengine.application.quotas import Quotas
from tests.service.conftest import Api, make_api
from tests.support.cli_runner import salesengine

T = "2026-03-31"
# The seeded deals' expected closes: three due in March, N-2 in June (later).
CLOSES = {"N-1": "2026-03-25", "N-2": "2026-06-01", "N-3": "2026-03-28", "S-1": "2026-03-30"}
# ana's year broken into quarters (10000 in Q1); bo's Q1; chen's Q1; south's own Q1.
# north has no quota of its own: its reps' sum, 18000.
QUOTAS: list[dict[str, Any]] = [
    {"rep": "ana", "team": "north", "period": "2026", "amount": "40000", "currency": "CNY"},
    {"rep": "bo", "team": "north", "period": "2026-Q1", "amount": "8000", "currency": "CNY"},
    {"rep": "chen 陈", "team": "south", "period": "2026-Q1", "amount": "20000", "currency": "CNY"},
    {"team": "south", "period": "2026-Q1", "amount": "30000", "currency": "CNY"},
]


def set_quota(api: Api, **fields: Any) -> None:
    command = parse_quota_command({"cmd": "set_quota", "at": "2026-01-01T00:00:00+00:00", **fields})
    Quotas(api.context.engine).execute(command)


@pytest.fixture
def api(store_url: str) -> Iterator[Api]:
    for api in make_api(store_url):
        closes = [
            {"cmd": "expected_close", "deal": key, "expected_close": day,
             "at": "2026-03-12T09:00:00+00:00"}
            for key, day in CLOSES.items()
        ]  # fmt: skip
        # N-2 opened 2026-03-03, its visit recorded on 2026-03-20: backdated by the policy's
        # measure only when recorded late, so it is recorded now, well after.
        late = {"cmd": "visit", "deal": "N-2", "at": "2026-03-05T09:00:00+00:00"}
        answer = api.post("admin", "/api/v1/commands", [*closes, late])
        assert answer.status_code == 200, answer.text
        for quota in QUOTAS:
            set_quota(api, **quota)
        api.caught_up()
        yield api


# (API path and query, the same question on the command line)
QUESTIONS: list[tuple[str, dict[str, str], list[str]]] = [
    ("/api/v1/quotas", {"as_of": T}, ["quota", "list", "--as-of", T]),
    ("/api/v1/quotas", {"as_of": T, "period": "2026-Q1"},
     ["quota", "list", "--as-of", T, "--period", "2026-Q1"]),
    ("/api/v1/quotas", {"as_of": T, "year": "2025"},
     ["quota", "list", "--as-of", T, "--year", "2025"]),
    ("/api/v1/reports/vvalue", {"as_of": T}, ["vvalue", "--as-of", T]),
    ("/api/v1/reports/vvalue", {"as_of": T, "team": "north", "period": "2026-03"},
     ["vvalue", "--as-of", T, "--team", "north", "--period", "2026-03"]),
    ("/api/v1/reports/vvalue", {"as_of": T, "known_at": "2026-01-01"},
     ["vvalue", "--as-of", T, "--known-at", "2026-01-01"]),
    ("/api/v1/reports/plan",
     {"as_of": T, "period": "2026-Q1", "policy": "five-level", "per": "rep"},
     ["plan", "--as-of", T, "--period", "2026-Q1", "--policy", "five-level", "--per", "rep"]),
    ("/api/v1/reports/plan",
     {"as_of": T, "period": "2026-Q1", "policy": "five-level", "per": "team", "target": "9000",
      "ideal_from": "team"},
     ["plan", "--as-of", T, "--period", "2026-Q1", "--policy", "five-level", "--per", "team",
      "--target", "9000", "--ideal-from", "team"]),
    ("/api/v1/reports/portfolio/shape", {"as_of": T}, ["portfolio", "shape", "--as-of", T]),
    ("/api/v1/reports/portfolio/shape",
     {"as_of": T, "every": "week", "periods": "5", "team": "north"},
     ["portfolio", "shape", "--as-of", T, "--every", "week", "--periods", "5", "--team", "north"]),
    ("/api/v1/reports/portfolio/projection",
     {"as_of": T, "horizon": "30", "runs": "200", "seed": "11"},
     ["portfolio", "project", "--as-of", T, "--horizon", "30", "--runs", "200", "--seed", "11"]),
    ("/api/v1/reports/portfolio/reps", {"as_of": T, "target": "5000"},
     ["portfolio", "reps", "--as-of", T, "--target", "5000"]),
    ("/api/v1/reports/anomalies", {"as_of": "2026-04-20"}, ["anomalies", "--as-of", "2026-04-20"]),
    ("/api/v1/reports/anomalies", {"as_of": "2026-04-20", "owner": "ana", "backdated_after": "3"},
     ["anomalies", "--as-of", "2026-04-20", "--owner", "ana", "--backdated-after", "3"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "query", "argv"),
    QUESTIONS,
    ids=[f"{q[0].rsplit('/', 1)[1]}-{n}" for n, q in enumerate(QUESTIONS)],
)
def test_each_answer_is_what_the_command_line_prints(
    api: Api, path: str, query: dict[str, str], argv: list[str]
) -> None:
    answer = api.get("auditor", path, **query)
    assert answer.status_code == 200, answer.text
    assert int(answer.headers["x-read-models-behind"]) == 0
    assert int(answer.headers["x-log-position"]) > 0
    printed = salesengine(*argv, "--json", env={"SALESENGINE_DB": api.db})
    assert printed.returncode == 0, printed.stderr
    expected: dict[str, Any] = json.loads(printed.stdout)
    assert answer.json() == expected
    shown = ("rows", "quotas", "plans", "groups", "reps")
    if "known_at" in query or query.get("year") == "2025":
        assert not any(expected.get(k) for k in shown), expected
    else:
        assert any(expected.get(k) for k in shown), expected


def _v(api: Api, who: str, **query: str) -> dict[tuple[str, str | None], dict[str, Any]]:
    answer = api.get(who, "/api/v1/reports/vvalue", as_of=T, **query)
    assert answer.status_code == 200, answer.text
    return {(r["kind"], r["subject"]): r for r in answer.json()["rows"]}


def _quotas(api: Api, who: str, **query: str) -> list[tuple[str, str, str, str | None]]:
    answer = api.get(who, "/api/v1/quotas", as_of=T, **query)
    assert answer.status_code == 200, answer.text
    key = "amount"
    return [(q["kind"], q["subject"], q["period"], q[key]) for q in answer.json()["quotas"]]


def test_a_rep_reads_their_own_quota_and_figures_only(api: Api) -> None:
    assert _quotas(api, "ana", period="2026-Q1") == [("rep", "ana", "2026-Q1", "10000.00")]
    assert {s for _, s, _, _ in _quotas(api, "ana")} == {"ana"}
    mine, everyone = _v(api, "ana"), _v(api, "auditor")
    # ana's row is the auditor's: no deal or quota of another changes it.
    assert mine[("rep", "ana")] == everyone[("rep", "ana")]
    assert mine[("rep", "ana")]["quota"] == "10000.00"
    assert mine[("rep", "ana")]["pipeline_deals"] == 1  # N-1; N-2 is due in June
    assert mine[("rep", "ana")]["later"] == 1
    # No team row: one of her deals alone would read as her team's figure (it once
    # did, with no quota and her pipeline as the team's).
    assert set(mine) == {("rep", "ana")}
    asked = api.get("ana", "/api/v1/reports/vvalue", as_of=T, team="north")
    assert asked.status_code == 422 and asked.json()["errors"][0]["field"] == "query.team"
    assert everyone[("team", "north")]["quota"] == "18000.00"
    assert everyone[("team", "north")]["pipeline_deals"] == 2
    plans = api.get("ana", "/api/v1/reports/plan", as_of=T, period="2026-Q1", per="team")
    assert plans.status_code == 200, plans.text
    assert plans.json()["plans"] == []
    managers = api.get("north", "/api/v1/reports/plan", as_of=T, period="2026-Q1", per="team")
    assert [p["subject"] for p in managers.json()["plans"]] == ["north"]


def test_a_manager_reads_the_teams_quota_and_its_reps_quotas(api: Api) -> None:
    assert _quotas(api, "north", period="2026-Q1") == [
        ("rep", "ana", "2026-Q1", "10000.00"),
        ("rep", "bo", "2026-Q1", "8000.00"),
        ("team", "north", "2026-Q1", "18000.00"),
    ]
    mine, everyone = _v(api, "north"), _v(api, "auditor")
    assert set(mine) == {("rep", "ana"), ("rep", "bo"), ("team", "north")}
    for key in mine:
        assert mine[key] == everyone[key]
    assert mine[("team", "north")]["quota_source"] == "reps"


def test_an_auditor_reads_every_quota(api: Api) -> None:
    subjects = {(k, s) for k, s, _, _ in _quotas(api, "auditor", period="2026-Q1")}
    assert subjects == {("rep", "ana"), ("rep", "bo"), ("rep", "chen 陈"),
                        ("team", "north"), ("team", "south")}  # fmt: skip
    assert _v(api, "auditor")[("team", "south")]["quota"] == "30000.00"


def test_a_policy_restricted_integration_reads_its_deals_but_no_quota(api: Api) -> None:
    assert _quotas(api, "crm") == []
    assert _quotas(api, "crm", period="2026-Q1") == []
    rows = _v(api, "crm")
    everyone = _v(api, "auditor")
    assert all(r["quota"] is None and r["v"] is None for r in rows.values())
    assert {k for k, _ in rows} == {"rep"}  # it reaches no team's quota, so no team row
    # Its deals are every seeded deal (all five-level): the same won and pipeline.
    for key, row in rows.items():
        assert (row["won"], row["pipeline"]) == (everyone[key]["won"], everyone[key]["pipeline"])
    plan = api.get("crm", "/api/v1/reports/plan", as_of=T, period="2026-Q1",
                   policy="five-level", per="rep")  # fmt: skip
    assert plan.status_code == 200, plan.text
    assert all(p["target"] is None for p in plan.json()["plans"])


def _as_ana(api: Api) -> dict[str, Any]:
    asked: dict[str, tuple[str, dict[str, str]]] = {
        "quotas": ("/api/v1/quotas", {"period": "2026-Q1"}),
        "vvalue": ("/api/v1/reports/vvalue", {}),
        "plan": ("/api/v1/reports/plan",
                 {"period": "2026-Q1", "policy": "five-level", "per": "rep"}),
        "shape": ("/api/v1/reports/portfolio/shape", {"policy": "five-level"}),
        "projection": ("/api/v1/reports/portfolio/projection",
                       {"policy": "five-level", "horizon": "30", "runs": "100"}),
        "reps": ("/api/v1/reports/portfolio/reps", {"policy": "five-level", "target": "5000"}),
        "anomalies": ("/api/v1/reports/anomalies", {}),
    }  # fmt: skip
    found = {}
    for name, (path, query) in asked.items():
        answer = api.get("ana", path, as_of=T, **query)
        assert answer.status_code == 200, (name, answer.text)
        found[name] = {k: v for k, v in answer.json().items() if k != "earliest_recorded"}
    return found


def test_a_deal_or_quota_out_of_scope_never_changes_what_a_rep_reads(api: Api) -> None:
    before = _as_ana(api)
    assert before["anomalies"]["rows"], "ana's deals show some anomaly"
    assert {r["deal"] for r in before["anomalies"]["rows"]} <= {"N-1", "N-2"}
    opened = {
        "cmd": "open", "deal": "B-9", "policy": "five-level", "owner": "bo", "team": "north",
        "amount": "90000", "currency": "CNY", "expected_close": "2026-03-29",
        "at": "2026-03-04T09:00:00+00:00",
        "facts": {"key_people_known": True, "org_structure_confirmed": True,
                  "need_determined": True, "visit_arranged": True},
    }  # fmt: skip
    answer = api.post("admin", "/api/v1/commands", [opened])
    assert answer.status_code == 200, answer.text
    set_quota(api, rep="bo", team="north", period="2026-Q1", amount="99000", currency="CNY")
    set_quota(api, team="north", period="2026-Q1", amount="123000", currency="CNY")
    api.caught_up()
    assert _v(api, "auditor")[("rep", "bo")]["pipeline_deals"] == 2  # the auditor sees it
    assert _as_ana(api) == before


def test_bad_parameters_are_refused_naming_them(api: Api) -> None:
    cases: list[tuple[str, dict[str, str], str]] = [
        ("/api/v1/quotas", {"year": "26"}, "query.year"),
        ("/api/v1/quotas", {"period": "2026-Q5"}, "query.period"),
        ("/api/v1/quotas", {"period": "2026-Q1", "year": "2026"}, "query.period"),
        ("/api/v1/quotas", {"as_of": "soon"}, "query.as_of"),
        ("/api/v1/reports/vvalue", {"period": "2026-W05"}, "query.period"),
        ("/api/v1/reports/vvalue", {"rep": "ana", "team": "north"}, "query.team"),
        ("/api/v1/reports/vvalue", {"known_at": "later"}, "query.known_at"),
        ("/api/v1/reports/plan", {"period": "2026-Q1", "policy": "five-level"}, "query.target"),
        ("/api/v1/reports/plan",
         {"period": "2026-Q1", "policy": "five-level", "per": "region"}, "query.per"),
        ("/api/v1/reports/plan",
         {"period": "2026-Q1", "policy": "five-level", "rep": "ana"}, "query.rep"),
        ("/api/v1/reports/plan",
         {"period": "2026-Q1", "policy": "five-level", "per": "rep", "team": "north"},
         "query.team"),
        ("/api/v1/reports/plan",
         {"period": "2026-W05", "policy": "five-level", "per": "rep"}, "query.period"),
        ("/api/v1/reports/portfolio/shape", {"every": "day"}, "query.every"),
        ("/api/v1/reports/portfolio/shape", {"periods": "0"}, "query.periods"),
        ("/api/v1/reports/portfolio/shape", {"period": "Q1"}, "query.period"),
        ("/api/v1/reports/portfolio/shape", {"policy": "seven-stage"}, "query.policy"),
        ("/api/v1/reports/portfolio/shape", {"currency": "yuan"}, "query.currency"),
        ("/api/v1/reports/portfolio/projection", {"runs": "5001"}, "query.runs"),
        ("/api/v1/reports/portfolio/projection", {"empty_share": "2"}, "query.empty_share"),
        ("/api/v1/reports/portfolio/projection", {"as_of": T}, "query.horizon"),
        ("/api/v1/reports/portfolio/reps", {"target": "-1"}, "query.target"),
        ("/api/v1/reports/anomalies", {"backdated_after": "7,teleport=3"}, "query.backdated_after"),
        ("/api/v1/reports/anomalies", {"limit": "0"}, "query.limit"),
        ("/api/v1/reports/anomalies", {"policy": "nope"}, "query.policy"),
        ("/api/v1/reports/anomalies", {"kind": "backdated"}, "query.kind"),
    ]  # fmt: skip
    for path, query, field in cases:
        answer = api.get("admin", path, **query)
        assert answer.status_code == 422, (path, query, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in answer.json()["errors"]] == [field], (path, answer.json())


def test_the_portfolio_never_names_nor_chooses_by_a_policy_of_deals_out_of_scope(
    api: Api,
) -> None:
    # A deal of another policy, which neither ana (a rep) nor crm (an integration for
    # five-level) reaches.
    hidden = {"cmd": "open", "deal": "X-1", "policy": "funnel-list", "owner": "bo",
              "team": "south", "at": "2026-03-04T09:00:00+00:00"}  # fmt: skip
    answer = api.post("admin", "/api/v1/commands", [hidden])
    assert answer.status_code == 200, answer.text
    api.caught_up()
    shape = "/api/v1/reports/portfolio/shape"
    everything = api.get("admin", shape, as_of=T)
    assert everything.status_code == 422 and "funnel-list" in everything.text  # the admin's
    for who in ("ana", "crm"):
        chosen = api.get(who, shape, as_of=T)  # their deals follow one policy: that one
        assert chosen.status_code == 200, (who, chosen.text)
        named = api.get(who, shape, as_of=T, policy="five-level")
        assert chosen.json() == named.json()
        hidden_policy = api.get(who, shape, as_of=T, policy="funnel-list")
        never_used = api.get(who, shape, as_of=T, policy="seven-stage")
        for refused in (hidden_policy, never_used):
            assert refused.status_code == 422, refused.text
        detail = hidden_policy.json()["errors"][0]["message"]
        assert detail == never_used.json()["errors"][0]["message"].replace(
            "seven-stage", "funnel-list"
        )
        assert "five-level" in detail


def test_a_name_no_deal_or_quota_in_reach_names_is_refused_as_unknown(api: Api) -> None:
    # Once an empty document: a mistyped name read as a rep with nothing.
    for who, rep in (("ana", "Nobody"), ("ana", "bo"), ("auditor", "Nobody")):
        answer = api.get(who, "/api/v1/reports/vvalue", as_of=T, period="2026-Q1", rep=rep)
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"] == [
            {"field": "query.rep",
             "message": f"no rep named {rep!r} has deals or quotas in 2026-Q1"}
        ]  # fmt: skip
        plan = api.get(who, "/api/v1/reports/plan", as_of=T, period="2026-Q1", per="rep", rep=rep)
        assert plan.status_code == 422, plan.text
        assert plan.json()["errors"][0]["field"] == "query.rep"
    assert _v(api, "auditor", period="2026-Q1", rep="bo")  # one in reach is read
