"""Every role on every endpoint: the status its permissions give (a table), and the
deals its scope reaches (in what each endpoint answers)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from salesengine.access.roles import PERMISSIONS, Action, Role
from tests.service.accounts_seed import seed_accounts
from tests.service.conftest import Api

WHO = {
    "admin": Role.ADMIN,
    "auditor": Role.AUDITOR,
    "ana": Role.REP,
    "north": Role.MANAGER,
    "crm": Role.INTEGRATION,
}

# (method, path, the action it needs; None: any authenticated principal)
ENDPOINTS: list[tuple[str, str, Action | None]] = [
    ("GET", "/api/v1/me", None),
    ("GET", "/api/v1/status", None),
    ("GET", "/api/v1/policies", Action.READ_DEALS),
    ("GET", "/api/v1/policies/five-level", Action.READ_DEALS),
    ("GET", "/api/v1/reports/funnel?as_of=2026-04-01", Action.READ_DEALS),
    ("GET", "/api/v1/reports/compare?as_of=2026-03-05&to=2026-04-01", Action.READ_DEALS),
    ("GET", "/api/v1/reports/conversion?from=2026-03-01&until=2026-04-01", Action.READ_DEALS),
    ("GET", "/api/v1/reports/cycle-time?from=2026-03-01&until=2026-04-01", Action.READ_DEALS),
    ("GET", "/api/v1/reports/forecast?as_of=2026-03-12", Action.READ_DEALS),
    ("GET", "/api/v1/reports/health?as_of=2026-03-12", Action.READ_DEALS),
    (
        "GET",
        "/api/v1/reports/plan?target=1000&period=2026-04&policy=five-level&as_of=2026-03-31",
        Action.READ_DEALS,
    ),
    ("GET", "/api/v1/quotas?as_of=2026-03-31", Action.READ_DEALS),
    ("GET", "/api/v1/reports/vvalue?as_of=2026-03-31", Action.READ_DEALS),
    ("GET", "/api/v1/reports/portfolio/shape?as_of=2026-03-31", Action.READ_DEALS),
    ("GET", "/api/v1/reports/portfolio/projection?as_of=2026-03-31&horizon=30", Action.READ_DEALS),
    ("GET", "/api/v1/reports/portfolio/reps?as_of=2026-03-31&target=5000", Action.READ_DEALS),
    ("GET", "/api/v1/reports/anomalies?as_of=2026-04-20", Action.READ_DEALS),
    ("GET", "/api/v1/deals", Action.READ_DEALS),
    ("GET", "/api/v1/deals/N-1", Action.READ_DEALS),
    ("GET", "/api/v1/deals/N-1/history", Action.READ_HISTORY),
    ("POST", "/api/v1/commands", Action.WRITE_COMMANDS),
    ("POST", "/api/v1/erasures", Action.ERASE_PERSONAL_DATA),
    ("GET", "/api/v1/export?as_of=2026-04-01", Action.EXPORT),
    ("GET", "/api/v1/feed?after=0", Action.READ_FEED),
    ("GET", "/api/v1/feed/stream", Action.READ_FEED),
    # The key-account method's reads, over the accounts of tests/service/accounts_seed.py.
    ("GET", "/api/v1/accounts?as_of=2026-03-20", Action.READ_DEALS),
    ("GET", "/api/v1/accounts/Account%20N-1?as_of=2026-03-20", Action.READ_DEALS),
    ("GET", "/api/v1/accounts/Account%20N-1/chain?as_of=2026-03-20", Action.READ_DEALS),
    ("GET", "/api/v1/accounts/Account%20N-1/history", Action.READ_HISTORY),
    ("GET", "/api/v1/reports/coverage?as_of=2026-03-20", Action.READ_DEALS),
    ("GET", "/api/v1/reports/review?as_of=2026-03-20", Action.READ_DEALS),
]
# An endless stream: the test client reads a response whole, so the roles that may read
# it are tested on a real server (test_feed_api.py); the others' 403 here.
ENDLESS = "/api/v1/feed/stream"


# What an allowed request answers, where it is not 200.
CREATED = {"/api/v1/erasures": 201}


def request(api: Api, who: str, method: str, path: str) -> Any:
    if method == "GET":
        return api.client.get(path, headers=api.auth(who))
    # A harmless write every writer reaches: a visit to ana's north deal, N-1.
    body: dict[str, Any] = {"cmd": "visit", "deal": "N-1", "at": "2026-03-20T10:00:00+00:00"}
    if path == "/api/v1/erasures":
        # Someone named on that visit, each time anew, so that there is a key to erase.
        name = f"Guest of {who}"
        written = api.client.post(
            "/api/v1/commands", json=body | {"attendees": [name]}, headers=api.auth("admin")
        )
        assert written.status_code == 200, written.text
        body = {"subject": f"person:{name}"}
    return api.client.post(path, json=body, headers=api.auth(who))


@pytest.mark.parametrize(("method", "path", "action"), ENDPOINTS, ids=[e[1] for e in ENDPOINTS])
def test_each_role_gets_what_its_permissions_give(
    api: Api, method: str, path: str, action: Action | None
) -> None:
    if path.startswith("/api/v1/accounts/"):
        seed_accounts(api)  # an account's history needs its events
    for who, role in WHO.items():
        allowed = action is None or action in PERMISSIONS[role]
        if allowed and path == ENDLESS:
            continue
        answer = request(api, who, method, path)
        if allowed:
            assert answer.status_code == CREATED.get(path, 200), (who, answer.text)
        else:
            assert answer.status_code == 403, (who, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["code"] == "forbidden"
        without = api.client.request(method, path, json={} if method == "POST" else None)
        assert without.status_code == 401
        assert without.headers["www-authenticate"].startswith("Bearer")


def funnel_deals(api: Api, who: str) -> int:
    answer = api.get(who, "/api/v1/reports/funnel", as_of="2026-04-01")
    assert answer.status_code == 200, answer.text
    return sum(row["deals"] for row in answer.json()["rows"])


def test_each_principal_counts_only_the_deals_its_scope_reaches(api: Api) -> None:
    assert funnel_deals(api, "admin") == 4
    assert funnel_deals(api, "auditor") == 4
    assert funnel_deals(api, "ana") == 2  # N-1, N-2
    assert funnel_deals(api, "bo") == 1  # N-3
    assert funnel_deals(api, "north") == 3  # the north team
    assert funnel_deals(api, "crm") == 4  # every five-level deal


def test_a_deal_out_of_scope_answers_exactly_as_one_that_does_not_exist(api: Api) -> None:
    for path in ("/api/v1/deals/{}", "/api/v1/deals/{}/history"):
        theirs = api.get("ana", path.format("S-1"))
        missing = api.get("ana", path.format("NO-SUCH"))
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json() | {"detail": ""} == missing.json() | {"detail": ""}
        assert api.get("ana", path.format("N-1")).status_code == 200
    # Writing to it: the same refusal as to a deal that was never opened.
    visit = {"cmd": "visit", "deal": "S-1", "at": "2026-03-20T10:00:00+00:00"}
    theirs = api.post("ana", "/api/v1/commands", visit)
    never = api.post("ana", "/api/v1/commands", visit | {"deal": "NO-SUCH"})
    assert theirs.status_code == never.status_code == 404
    assert theirs.json()["code"] == never.json()["code"] == "unknown_deal"


def test_a_deal_handed_to_another_rep_leaves_the_first_reps_reports(api: Api) -> None:
    moved = api.post(
        "north",
        "/api/v1/commands",
        {"cmd": "owner", "deal": "N-2", "owner": "bo", "at": "2026-03-25T09:00:00+00:00"},
    )
    assert moved.status_code == 200, moved.text
    api.caught_up()
    assert funnel_deals(api, "ana") == 1
    assert funnel_deals(api, "bo") == 2
    assert api.get("ana", "/api/v1/deals/N-2").status_code == 404


def test_the_table_covers_every_endpoint_of_the_api(api: Api) -> None:
    paths = api.get("admin", "/api/v1/openapi.json").json()["paths"]
    assert len(paths) >= len({path.split("?")[0] for _, path, _ in ENDPOINTS}) - 2
    for template, methods in paths.items():
        pattern = re.compile(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)))
        for method in methods:
            covered = [
                path
                for m, path, _ in ENDPOINTS
                if m == method.upper() and pattern.fullmatch(path.split("?")[0])
            ]
            assert covered, f"{method.upper()} {template} is not in ENDPOINTS"
