"""The API after an erasure, on SQLite and PostgreSQL: a deal's and an account's
documents, histories and the feed show an erased value as ``[erased]``; an erasure
made by another process shows within the key cache's period."""

from __future__ import annotations

import io
import json
import time
import zipfile
from typing import Any

from salesengine.bootstrap import build_engine
from salesengine.domain.personal import ERASED
from salesengine.store.personal_keys import KEY_CACHE_SECONDS
from tests.service.conftest import Api
from tests.support.personal_data import (
    D2_VISIT_NOTE,
    ERASED_VALUES,
    IGNATIUS,
    MARTA,
    ORSON,
    PRIYA,
    ZELDA,
    erase_all,
    write_personal_history,
)

PATHS = (
    "/api/v1/deals/D1",
    "/api/v1/deals/D1/history",
    "/api/v1/deals/D3/history",
    "/api/v1/accounts/ACME",
    "/api/v1/accounts/ACME/history",
    "/api/v1/accounts/ACME/chain",
)


def documents(api: Api) -> dict[str, Any]:
    found = {}
    for path in PATHS:
        answer = api.get("auditor", path)
        assert answer.status_code == 200, (path, answer.text)
        found[path] = answer.json()
    feed = api.get("auditor", "/api/v1/feed", after=0, limit=1000)
    assert feed.status_code == 200, feed.text
    found["feed"] = [item["message"] for item in feed.json()["items"]]
    return found


def text_of(found: Any) -> str:
    return json.dumps(found, ensure_ascii=False)


def test_the_api_shows_erased_values_as_erased(api: Api) -> None:
    write_personal_history(api.context.engine)
    api.caught_up()
    before = text_of(documents(api))
    assert all(value in before for value in (ZELDA, IGNATIUS, MARTA, ORSON))

    erase_all(api.context.engine)
    api.caught_up()
    after = documents(api)
    shown = text_of(after)
    assert [value for value in ERASED_VALUES if value in shown] == []
    assert all(value in shown for value in (MARTA, ORSON, PRIYA, D2_VISIT_NOTE))
    visits = [e for e in after["/api/v1/deals/D1/history"]["events"] if e["type"] == "VisitLogged"]
    assert visits[0]["data"]["attendees"] == [ERASED, MARTA]
    assert visits[0]["data"]["note"] == ERASED
    nodes = after["/api/v1/accounts/ACME/chain"]["chain"]["nodes"]
    contacts = {n["contact"]["contact"]: n["contact"] for n in nodes}
    assert contacts["c1"]["name"] == ERASED
    sent = [m for m in after["feed"] if m["type"] == "deal.visit_logged" and m["deal"] == "D1"]
    assert sent[0]["attendees"] == [ERASED, MARTA] and sent[0]["note"] == ERASED

    for fmt in ("xes", "csv"):
        exported = api.client.get(
            "/api/v1/export", params={"format": fmt}, headers=api.auth("auditor")
        )
        assert exported.status_code == 200, exported.text
        if fmt == "csv":
            with zipfile.ZipFile(io.BytesIO(exported.content)) as packed:
                body = packed.read("events.csv").decode()
        else:
            body = exported.content.decode()
        assert ERASED in body and MARTA in body
        assert [value for value in ERASED_VALUES if value in body] == []


def test_an_erasure_by_another_process_shows_in_the_api_within_the_key_cache_period(
    api: Api,
) -> None:
    write_personal_history(api.context.engine)
    api.caught_up()
    assert IGNATIUS in text_of(documents(api))  # the service has read (and keeps) the keys
    other = build_engine(api.db, actor="dpo")
    try:
        erase_all(other)
    finally:
        other.close()
    time.sleep(KEY_CACHE_SECONDS + 0.2)
    api.caught_up()
    shown = text_of(documents(api))
    assert [value for value in ERASED_VALUES if value in shown] == []
    assert ERASED in shown and MARTA in shown
