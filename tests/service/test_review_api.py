"""``/api/v1/reports/review`` on SQLite and PostgreSQL: the document of
``salesengine review --json`` for the same store, kept to the caller's deals and
accounts, and its parameters checked."""

from __future__ import annotations

import json
from typing import Any

import pytest

from salesengine.service.account_schemas import Review
from tests.service.accounts_seed import AS_OF, seed_accounts
from tests.service.conftest import Api
from tests.support.cli_runner import salesengine


@pytest.fixture
def accounts(api: Api) -> Api:
    seed_accounts(api)
    return api


def review(api: Api, who: str, **params: Any) -> Any:
    answer = api.get(who, "/api/v1/reports/review", as_of=AS_OF, **params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def keys(doc: Any) -> list[str]:
    return sorted(d["deal"] for g in doc["grades"] for d in g["deals"])


@pytest.mark.parametrize(
    "asked",
    [{}, {"owner": "ana"}, {"team": "north", "sample": "1", "seed": "s-1"}, {"period": "quarter"}],
)
def test_given_a_store_when_an_auditor_asks_then_the_pack_is_the_cli_json(
    accounts: Api, asked: dict[str, str]
) -> None:
    doc = review(accounts, "auditor", **asked)
    argv = [f"--{k}={v}" for k, v in asked.items()]
    printed = salesengine(
        "review", "--as-of", AS_OF, *argv, "--json", env={"SALESENGINE_DB": accounts.db}
    )
    assert printed.returncode == 0, printed.stderr
    assert doc == json.loads(printed.stdout)
    Review.model_validate(doc)


def test_the_pack_lists_every_open_deal_by_grade_and_the_account_figures(accounts: Api) -> None:
    doc = review(accounts, "auditor", sample="10")
    assert keys(doc) == ["N-1", "N-2", "N-3", "S-1"]
    assert sum(g["total"] for g in doc["grades"]) == 4
    assert sum(doc["accounts"]["per_grade"].values()) == 5
    assert doc["accounts"]["per_grade"]["A"] == 1  # Account S-1's set grade


@pytest.mark.parametrize(
    ("who", "deals", "accounts_seen"),
    [
        ("ana", ["N-1", "N-2"], 2),
        ("bo", ["N-3"], 1),
        ("north", ["N-1", "N-2", "N-3"], 3),
        ("crm", ["N-1", "N-2", "N-3", "S-1"], 4),
        ("auditor", ["N-1", "N-2", "N-3", "S-1"], 5),
    ],
)
def test_given_a_scope_then_the_pack_holds_only_its_deals_and_accounts(
    accounts: Api, who: str, deals: list[str], accounts_seen: int
) -> None:
    doc = review(accounts, who, sample="10")
    assert keys(doc) == deals
    assert sum(doc["accounts"]["per_grade"].values()) == accounts_seen
    assert {c["deal"] for c in doc["overdue_contacts"]} <= set(deals)


def test_a_rep_asking_for_another_owner_gets_an_empty_pack(accounts: Api) -> None:
    doc = review(accounts, "ana", owner="bo")
    assert keys(doc) == []
    assert sum(doc["accounts"]["per_grade"].values()) == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"as_of": "next week"}, "query.as_of"),
        ({"known_at": "2026-02-30"}, "query.known_at"),
        ({"sample": "-1"}, "query.sample"),
        ({"sample": "many"}, "query.sample"),
        ({"period": "year"}, "query.period"),
        ({"seed": ""}, "query.seed"),
        ({"grade": "A"}, "query.grade"),
    ],
)
def test_bad_parameters_are_refused_naming_them(
    accounts: Api, params: dict[str, str], field: str
) -> None:
    answer = accounts.get("auditor", "/api/v1/reports/review", **params)
    assert answer.status_code == 422, answer.text
    assert field in [e["field"] for e in answer.json()["errors"]]
