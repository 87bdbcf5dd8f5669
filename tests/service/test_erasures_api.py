"""``POST /api/v1/erasures`` on both stores: an admin erases a data subject and gets its
receipt, every other role is refused and nothing changes, and after it the deal's
history reads "[erased]" where the personal data was; each refusal changes nothing."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import pytest

from salesengine.application.erasure import erase
from salesengine.bootstrap import build_engine
from salesengine.domain.personal import ERASED
from salesengine.store.personal_keys import KEY_CACHE_SECONDS
from tests.service.accounts_seed import seed_accounts
from tests.service.conftest import Api

PATH = "/api/v1/erasures"
HEX_ID = re.compile(r"^[0-9a-f]{32}$")
VISIT = {
    "cmd": "visit",
    "deal": "N-1",
    "attendees": ["Wang Wei"],
    "note": "Wang Wei asked for the budget figures",
    "at": "2026-03-20T10:00:00+00:00",
}


def visited(api: Api) -> None:
    answer = api.post("admin", "/api/v1/commands", VISIT)
    assert answer.status_code == 200, answer.text
    api.caught_up()


def last_visit(api: Api) -> dict[str, Any]:
    answer = api.get("admin", "/api/v1/deals/N-1/history")
    assert answer.status_code == 200, answer.text
    visits = [e["data"] for e in answer.json()["events"] if e["type"] == "VisitLogged"]
    found: dict[str, Any] = visits[-1]
    return found


def log_position(api: Api) -> int:
    """The last position of the store's log, as every reader's X-Log-Position names it."""
    answer = api.get("admin", "/api/v1/deals")
    assert answer.status_code == 200, answer.text
    return int(answer.headers["x-log-position"])


def test_an_admin_erases_a_person_and_the_deals_history_reads_erased(api: Api) -> None:
    visited(api)
    assert last_visit(api)["note"] == VISIT["note"]
    before = log_position(api)

    answer = api.post("admin", PATH, {"subject": "person:Wang Wei"})

    assert answer.status_code == 201, answer.text
    receipt = answer.json()
    assert set(receipt) == {
        "subject",
        "kind",
        "keys_deleted",
        "key_ids",
        "erasure_id",
        "recorded_at",
        "by",
        "scrubbed",
    }
    assert receipt["scrubbed"] is True
    assert (receipt["subject"], receipt["kind"], receipt["by"]) == (
        "person:Wang Wei",
        "person",
        "root",  # the admin token's principal
    )
    assert receipt["keys_deleted"] == len(receipt["key_ids"]) == 1
    assert HEX_ID.match(receipt["key_ids"][0]) and HEX_ID.match(receipt["erasure_id"])
    assert datetime.fromisoformat(receipt["recorded_at"]).tzinfo is not None
    assert answer.text.count("Wang") == 1  # the subject as named; the rest is opaque ids

    visit = last_visit(api)
    assert visit["attendees"] == [ERASED]
    assert visit["note"] == ERASED
    assert log_position(api) == before + 1  # the erasure event, and nothing else
    # Erased once: there is nothing left to erase.
    again = api.post("admin", PATH, {"subject": "person:Wang Wei"})
    assert again.status_code == 422 and again.json()["code"] == "nothing_to_erase"


@pytest.mark.parametrize("who", ["auditor", "north", "ana", "crm"])
def test_no_other_role_may_erase_and_nothing_changes(api: Api, who: str) -> None:
    visited(api)
    before = log_position(api)

    answer = api.post(who, PATH, {"subject": "person:Wang Wei"})

    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "forbidden"
    assert "may not erase personal data" in answer.json()["detail"]
    assert last_visit(api)["note"] == VISIT["note"]
    assert last_visit(api)["attendees"] == ["Wang Wei"]
    assert log_position(api) == before


@pytest.mark.parametrize(
    ("subject", "status", "code"),
    [
        ("Wang Wei", 422, "bad_subject"),
        ("planet:Earth", 422, "bad_subject"),
        ("contact:no-slash", 422, "bad_subject"),
        ("deal:NO-SUCH", 404, "unknown_deal"),
        ("account:NO-SUCH", 404, "unknown_account"),
        ("contact:NO-SUCH/wang", 404, "unknown_account"),
        ("contact:Account N-1/nobody", 404, "unknown_contact"),
        ("person:Nobody At All", 422, "nothing_to_erase"),
        ("deal:N-2", 422, "nothing_to_erase"),  # a deal with no personal data on it
    ],
)
def test_each_refusal_names_the_subject_and_changes_nothing(
    api: Api, subject: str, status: int, code: str
) -> None:
    seed_accounts(api)
    visited(api)
    before = log_position(api)

    answer = api.post("admin", PATH, {"subject": subject})

    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["code"] == code
    assert subject in problem["detail"], problem["detail"]
    if code == "bad_subject":
        assert problem["errors"][0]["field"] == "body.subject"
    assert last_visit(api)["note"] == VISIT["note"]
    assert log_position(api) == before


def test_a_body_that_is_not_one_subject_is_malformed(api: Api) -> None:
    for body in ({}, {"subject": ""}, {"subject": "person:X", "by": "someone"}, ["person:X"]):
        answer = api.post("admin", PATH, body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.json()["code"] == "invalid_request"


def test_an_erasure_made_elsewhere_shows_in_the_service_within_the_key_cache_time(
    api: Api,
) -> None:
    visited(api)
    assert last_visit(api)["note"] == VISIT["note"]  # the service now holds the key
    elsewhere = build_engine(api.db, actor="dpo")  # another process's view of the store
    try:
        erase(elsewhere, "deal:N-1")
    finally:
        elsewhere.close()

    deadline = time.monotonic() + KEY_CACHE_SECONDS + 5  # slack for a loaded machine
    while last_visit(api)["note"] != ERASED:
        assert time.monotonic() < deadline, "the service still reads the erased note"
        time.sleep(0.1)
    assert last_visit(api)["attendees"] == ["Wang Wei"]  # another subject: not erased
