"""``/api/v1/accounts/...`` and ``/api/v1/reports/coverage`` on SQLite and PostgreSQL:
the documents of ``salesengine account ... --json`` for the same store, each caller kept
to the accounts they reach (docs/access.md, "Accounts"), and bad input named."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest

from salesengine.application.account_commands import parse_account_command
from salesengine.application.accounts import Accounts
from salesengine.service.account_schemas import (
    AccountChain,
    AccountHistory,
    AccountList,
    AccountShow,
    Coverage,
)
from tests.service.accounts_seed import AS_OF, seed_accounts
from tests.service.conftest import Api
from tests.support.cli_runner import salesengine
from tests.support.commands import FIVE_LEVEL_OPENING


@pytest.fixture
def accounts(api: Api) -> Api:
    seed_accounts(api)
    return api


def listed(api: Api, who: str, **params: Any) -> list[str]:
    answer = api.get(who, "/api/v1/accounts", as_of=AS_OF, **params)
    assert answer.status_code == 200, answer.text
    return [row["account"] for row in answer.json()["accounts"]]


def cli_json(api: Api, *argv: str) -> Any:
    printed = salesengine(*argv, "--json", env={"SALESENGINE_DB": api.db})
    assert printed.returncode == 0, printed.stderr
    return json.loads(printed.stdout)


@pytest.mark.parametrize(
    ("path", "argv", "model"),
    [
        ("/api/v1/accounts", ("account", "list"), AccountList),
        ("/api/v1/accounts/Account%20N-1", ("account", "show", "Account N-1"), AccountShow),
        ("/api/v1/accounts/Account%20N-1/chain", ("account", "chain", "Account N-1"), AccountChain),
        ("/api/v1/accounts/Account%20N-1/history", ("account", "history", "Account N-1"),
         AccountHistory),
        ("/api/v1/reports/coverage", ("account", "coverage"), Coverage),
    ],
)  # fmt: skip
def test_given_accounts_when_an_auditor_asks_then_each_document_is_the_cli_json(
    accounts: Api, path: str, argv: tuple[str, ...], model: Any
) -> None:
    answer = accounts.get("auditor", path, as_of=AS_OF)
    assert answer.status_code == 200, answer.text
    assert int(answer.headers["x-read-models-behind"]) == 0
    assert int(answer.headers["x-log-position"]) > 0
    assert answer.json() == cli_json(accounts, *argv, "--as-of", AS_OF)
    model.model_validate(answer.json())  # the published shape, closed


def test_given_known_at_before_the_accounts_were_recorded_then_only_implicit_ones(
    api: Api,
) -> None:
    known = datetime.now(UTC).isoformat()  # the deals are recorded, the accounts not yet
    seed_accounts(api)
    answer = api.get("auditor", "/api/v1/accounts", as_of=AS_OF, known_at=known)
    assert answer.status_code == 200, answer.text
    expected = cli_json(api, "account", "list", "--as-of", AS_OF, "--known-at", known)
    assert answer.json() == expected
    rows = expected["accounts"]
    assert [r["account"] for r in rows] == [
        "Account N-1",
        "Account N-2",
        "Account N-3",
        "Account S-1",
    ]
    assert not any(r["recorded"] for r in rows)


def test_the_list_shows_grade_rad_owner_and_contact(accounts: Api) -> None:
    rows = {
        r["account"]: r
        for r in accounts.get("auditor", "/api/v1/accounts", as_of=AS_OF).json()["accounts"]
    }
    assert sorted(rows) == ["Account N-1", "Account N-2", "Account N-3", "Account S-1", "Orphan"]
    n1 = rows["Account N-1"]
    assert (n1["name"], n1["owner"], n1["rad"], n1["present_contacts"]) == (
        "北方机械",
        "ana",
        "D1",
        3,
    )
    assert n1["last_contact"] == "2026-03-15T09:00:00+00:00"
    assert (rows["Account S-1"]["grade"], rows["Account S-1"]["grade_source"]) == ("A", "set")
    assert rows["Account N-2"]["recorded"] is False
    assert rows["Orphan"]["last_contact"] is None


def test_the_list_takes_the_cli_filters(accounts: Api) -> None:
    assert listed(accounts, "auditor", owner="ana") == ["Account N-1", "Account N-2"]
    assert listed(accounts, "auditor", team="south") == ["Account S-1"]
    assert listed(accounts, "auditor", region="华北") == ["Account N-1"]
    assert listed(accounts, "auditor", grade="A") == ["Account S-1"]
    assert listed(accounts, "auditor", rad="D1") == ["Account N-1"]


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("ana", ["Account N-1", "Account N-2"]),  # her own, and the implicit one of her deal
        ("bo", ["Account N-3"]),
        ("north", ["Account N-1", "Account N-2", "Account N-3"]),
        # By policy: the accounts its deals name (Orphan has none).
        ("crm", ["Account N-1", "Account N-2", "Account N-3", "Account S-1"]),
        ("auditor", ["Account N-1", "Account N-2", "Account N-3", "Account S-1", "Orphan"]),
    ],
)
def test_given_a_scope_when_listing_then_only_the_accounts_it_reaches(
    accounts: Api, who: str, expected: list[str]
) -> None:
    assert listed(accounts, who) == expected
    covered = accounts.get(who, "/api/v1/reports/coverage", as_of=AS_OF).json()["coverage"]
    assert covered["total"]["accounts"] == len(expected)


def test_given_an_account_out_of_scope_then_it_answers_as_an_unknown_one(accounts: Api) -> None:
    for suffix in ("", "/chain", "/history"):
        theirs = accounts.get("ana", f"/api/v1/accounts/Account%20S-1{suffix}", as_of=AS_OF)
        never = accounts.get("ana", f"/api/v1/accounts/Nope{suffix}", as_of=AS_OF)
        assert theirs.status_code == never.status_code == 404
        body, unknown = theirs.json(), never.json()
        assert body["code"] == unknown["code"] == "unknown_account"
        assert body == unknown | {"detail": unknown["detail"].replace("Nope", "Account S-1")}
    assert accounts.get("auditor", "/api/v1/accounts/Account%20S-1", as_of=AS_OF).status_code == 200


def test_an_account_shows_only_the_callers_deals(accounts: Api) -> None:
    # bo's deal N-3 names bo's account; ana's manager sees it, ana does not reach it.
    shown = accounts.get("north", "/api/v1/accounts/Account%20N-3", as_of=AS_OF).json()
    assert [d["deal"] for d in shown["account"]["deals"]] == ["N-3"]
    accounts_ = Accounts(accounts.context.engine)
    hand_over = {"cmd": "account_change", "account": "Account N-3", "owner": "ana", "by": "t",
                 "at": "2026-02-15T00:00:00+00:00"}  # fmt: skip
    accounts_.execute(parse_account_command(hand_over))
    # Now ana's by its current owner, for every instant; bo's deal stays out of her view.
    before = accounts.get("ana", "/api/v1/accounts/Account%20N-3", as_of="2026-02-10").json()
    assert before["account"]["owner"] == "bo"
    assert before["account"]["deals"] == []
    assert "Account N-3" not in listed(accounts, "bo")


def test_the_decision_chain_is_the_reporting_lines_at_t(accounts: Api) -> None:
    chain = accounts.get("ana", "/api/v1/accounts/Account%20N-1/chain", as_of=AS_OF).json()["chain"]
    assert [(n["contact"]["contact"], n["depth"]) for n in chain["nodes"]] == [
        ("wang", 0), ("li", 1), ("zhao", 2),
    ]  # fmt: skip
    assert chain["by_role"] == {
        "decision_maker": ["wang"],
        "end_user": ["zhao"],
        "influencer": ["li"],
    }
    early = accounts.get(
        "ana", "/api/v1/accounts/Account%20N-1/chain", as_of="2026-02-03T12:00:00+00:00"
    ).json()["chain"]
    assert [n["contact"]["contact"] for n in early["nodes"]] == ["wang"]


def test_the_history_needs_read_history_and_marks_events_after_t(accounts: Api) -> None:
    path = "/api/v1/accounts/Account%20N-1/history"
    assert accounts.get("crm", path).status_code == 403  # an integration reads no history
    events = accounts.get("ana", path, as_of="2026-02-04T12:00:00+00:00").json()["events"]
    assert [e["type"] for e in events][:3] == ["Opened", "BuyingPowerSet", "ShareOfWalletSet"]
    assert [e["after_t"] for e in events] == [False] * 5 + [True] * 2
    assert events[0]["actor"] == "setup"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/accounts", {"as_of": "yesterday"}, "query.as_of"),
        ("/api/v1/accounts", {"known_at": "2026-13-01"}, "query.known_at"),
        ("/api/v1/accounts", {"grade": "E"}, "query.grade"),
        ("/api/v1/accounts", {"rad": "X9"}, "query.rad"),
        ("/api/v1/accounts", {"asof": "2026-03-01"}, "query.asof"),
        ("/api/v1/accounts/Account%20N-1", {"as_of": "soon"}, "query.as_of"),
        ("/api/v1/accounts/Account%20N-1/chain", {"known_at": "x"}, "query.known_at"),
        ("/api/v1/reports/coverage", {"as_of": "2026-03-32"}, "query.as_of"),
    ],
)
def test_bad_parameters_are_refused_naming_them(
    accounts: Api, path: str, params: dict[str, str], field: str
) -> None:
    answer = accounts.get("auditor", path, **params)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in answer.json()["errors"]]


def test_a_key_with_a_slash_and_unicode_is_found(accounts: Api) -> None:
    raw = {"cmd": "account_open", "account": "华北/客户 1", "owner": "ana", "by": "t",
           "at": "2026-02-01T00:00:00+00:00"}  # fmt: skip
    Accounts(accounts.context.engine).execute(parse_account_command(raw))
    path = f"/api/v1/accounts/{quote('华北/客户 1')}"
    assert accounts.get("ana", path, as_of=AS_OF).json()["account"]["account"] == "华北/客户 1"
    assert accounts.get("ana", f"{path}/chain", as_of=AS_OF).json()["chain"]["nodes"] == []
    assert accounts.get("bo", path, as_of=AS_OF).status_code == 404


@pytest.mark.parametrize("key", ["华北/合同/history", "华北/合同/chain", "客户/甲"])
def test_a_key_is_one_encoded_segment_even_ending_in_a_documents_name(
    accounts: Api, key: str
) -> None:
    # The account and a deal of crm's policy naming it: ana owns it, crm reaches it.
    opened = {"cmd": "account_open", "account": key, "owner": "ana", "team": "north",
              "at": "2026-02-01T00:00:00+00:00"}  # fmt: skip
    deal = {"cmd": "open", "deal": f"D {key}", "policy": "five-level", "account": key,
            "owner": "ana", "team": "north", "at": "2026-03-02T09:00:00+00:00",
            "facts": FIVE_LEVEL_OPENING}  # fmt: skip
    answer = accounts.post("admin", "/api/v1/commands", [opened, deal])
    assert answer.status_code == 200, answer.text
    accounts.caught_up()
    path = f"/api/v1/accounts/{quote(key, safe='')}"
    for who in ("ana", "crm"):  # the integration reads the account, not a history: no 403
        shown = accounts.get(who, path, as_of=AS_OF)
        assert shown.status_code == 200, (who, shown.text)
        assert shown.json()["account"]["account"] == key
        chain = accounts.get(who, f"{path}/chain", as_of=AS_OF)
        assert chain.status_code == 200 and chain.json()["chain"]["nodes"] == []
    history = accounts.get("ana", f"{path}/history", as_of=AS_OF)
    assert history.status_code == 200 and history.json()["account"] == key
    assert accounts.get("crm", f"{path}/history").status_code == 403  # that one is a history
    # Its slashes sent as they are, the key is still found unless it ends in a document's
    # name: that document of the key before it is read then (here, an unknown account).
    answer = accounts.get("ana", f"/api/v1/accounts/{quote(key)}", as_of=AS_OF)
    if key == "客户/甲":
        assert answer.status_code == 200 and answer.json()["account"]["account"] == key
    else:
        assert answer.status_code == 404 and "'华北/合同'" in answer.json()["detail"]
    assert accounts.get("bo", path, as_of=AS_OF).status_code == 404  # out of bo's scope


def test_a_deal_whose_key_ends_in_history_is_read_with_its_slash_encoded(api: Api) -> None:
    deal = {"cmd": "open", "deal": "ACME/history", "policy": "five-level", "owner": "ana",
            "team": "north", "at": "2026-03-02T09:00:00+00:00",
            "facts": FIVE_LEVEL_OPENING}  # fmt: skip
    assert api.post("admin", "/api/v1/commands", deal).status_code == 200
    api.caught_up()
    shown = api.get("crm", "/api/v1/deals/ACME%2Fhistory")
    assert shown.status_code == 200, shown.text
    assert shown.json()["deal"] == "ACME/history"
    replay = api.get("auditor", "/api/v1/deals/ACME%2Fhistory/history")
    assert replay.status_code == 200, replay.text
    assert api.get("crm", "/api/v1/deals/ACME/history").status_code == 403  # ACME's history


def test_a_bad_rad_cell_is_named_in_the_command_lines_words(accounts: Api) -> None:
    # Once the pattern itself was the message: "String should match pattern '^[RDA][123]$'".
    answer = accounts.get("auditor", "/api/v1/accounts", rad="r1")
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"] == [
        {"field": "query.rad", "message": "'r1' is not a RAD cell (R1 .. A3)"}
    ]
