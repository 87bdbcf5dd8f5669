"""The change feed over the API: what the relay publishes, kept to the caller's deals,
page by page with no gap or repeat, never past what the read models have applied; the
long poll; who may read it; bad parameters named. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from salesengine.access.principal import Principal, Scope
from salesengine.access.roles import PERMISSIONS, Action, Role
from salesengine.integration import feed as feed_module
from salesengine.integration.relay import Relay, RelayOptions
from salesengine.integration.transports.base import Outgoing, Transport, message_headers
from salesengine.service.app import create_app
from tests.service.conftest import Api
from tests.support.commands import FIVE_LEVEL_OPENING

FEED = "/api/v1/feed"

# Further tokens: integrations kept to a team, a policy, both.
SCOPED: dict[str, dict[str, list[str]]] = {
    "north-sync": {"teams": ["north"]},
    "south-sync": {"teams": ["south"]},
    "seven-sync": {"policies": ["seven-stage"]},
    "north-five": {"teams": ["north"], "policies": ["five-level"]},
}

# Beyond the seed: a deal of another policy, amounts changed mid-history (so a page that
# starts after them must read them back to translate a later stage change), a deal lost.
MORE: list[dict[str, Any]] = [
    {
        "cmd": "open",
        "deal": "W-1",
        "policy": "seven-stage",
        "owner": "ana",
        "team": "north",
        "at": "2026-03-05T09:00:00+00:00",
    },
    {"cmd": "amount", "deal": "N-1", "amount": "1500", "at": "2026-03-12T09:00:00+00:00"},
    {"cmd": "visit", "deal": "N-2", "at": "2026-03-13T09:00:00+00:00"},
    {"cmd": "amount", "deal": "S-1", "amount": "7700", "at": "2026-03-14T09:00:00+00:00"},
    {"cmd": "visit", "deal": "W-1", "at": "2026-03-15T09:00:00+00:00"},
    {"cmd": "regress", "deal": "N-1", "to": "identified", "reason": "champion left"},
    {"cmd": "lost", "deal": "S-1", "reason": "budget", "competitor": "Rival"},
    {"cmd": "visit", "deal": "N-3", "at": "2026-03-16T09:00:00+00:00"},
]


@pytest.fixture
def feed_api(api: Api) -> Api:
    for who, scope in SCOPED.items():
        made = api.context.tokens.create(
            who, Role.INTEGRATION, teams=scope.get("teams", ()), policies=scope.get("policies", ())
        )
        api.tokens[who] = made.text
    write(api, MORE)
    return api


def write(api: Api, commands: list[dict[str, Any]], *, catch_up: bool = True) -> None:
    answer = api.post("admin", "/api/v1/commands", commands)
    assert answer.status_code == 200, answer.text
    if catch_up:
        api.caught_up()


class Capture(Transport):
    """A transport that keeps what the relay hands it."""

    kind = "capture"
    in_flight = 1

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def start(self) -> None:
        return None

    async def publish(self, message: Outgoing) -> None:
        self.sent.append(message)

    async def stop(self) -> None:
        return None


def relayed(api: Api) -> list[Outgoing]:
    """Every message the relay publishes for the whole log, in log order (it hands them
    over in order per deal, several deals at once)."""
    transport = Capture()
    options = RelayOptions(name=f"feed-test-{uuid.uuid4().hex[:8]}")
    asyncio.run(Relay(api.context.engine, api.context.sql, transport, options).run())
    return sorted(transport.sent, key=lambda m: m.position)


def admitted(api: Api, scope: Scope, message: Outgoing) -> bool:
    """Whether the message's deal is in scope, by its current attributes (Python's rule,
    ``Scope.admits``, against the engine's own state of the deal)."""
    deal = api.context.engine.find(json.loads(message.body)["deal"])
    assert deal is not None
    state = deal.state
    return scope.admits(state.owner, state.team, state.policy)


def principal(api: Api, who: str) -> Principal:
    found = api.context.tokens.authenticate(api.tokens[who])
    assert isinstance(found, Principal), found
    return found


def scope_of(api: Api, who: str) -> Scope:
    return principal(api, who).scope


def read_all(api: Api, who: str, limit: int, after: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Every item from ``after`` on, page by page, and the cursor at the end."""
    items: list[dict[str, Any]] = []
    while True:
        answer = api.get(who, FEED, after=after, limit=limit)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["items"]) <= limit
        # Each item's body is the relay's bytes, as they are.
        for item in page["items"]:
            assert item["position"] > after
        items += page["items"]
        if not page["items"] and page["next_after"] == after:
            return items, after
        assert page["next_after"] >= after
        after = page["next_after"]


def assert_same(items: list[dict[str, Any]], expected: list[Outgoing]) -> None:
    assert [i["position"] for i in items] == [m.position for m in expected]
    for item, message in zip(items, expected, strict=True):
        headers = message_headers(message)
        assert item["id"] == headers["message_id"]
        assert item["type"] == headers["event_type"]
        assert str(item["position"]) == headers["position"]
        assert item["subject"] == message.subject
        assert item["message"] == json.loads(message.body)
        assert item["schema_version"] == item["message"]["schema_version"] == 1


@pytest.mark.parametrize("who", ["auditor", "crm", *SCOPED])
@pytest.mark.parametrize("limit", [1, 4, 1000])
def test_a_scoped_reader_gets_exactly_the_relays_messages_of_its_deals(
    feed_api: Api, who: str, limit: int
) -> None:
    everything = relayed(feed_api)
    scope = scope_of(feed_api, who)
    expected = [m for m in everything if admitted(feed_api, scope, m)]
    assert expected, "each scope reaches some deal"
    if not scope.everything:
        assert len(expected) < len(everything) or who == "crm"
    items, end = read_all(feed_api, who, limit)
    assert_same(items, expected)
    # The cursor ends at the log's head, past events of other deals too.
    assert end == everything[-1].position


def test_the_raw_body_is_the_relays_bytes(feed_api: Api) -> None:
    everything = relayed(feed_api)
    answer = feed_api.get("auditor", FEED, limit=1000)
    for message in everything:
        assert b'"message":' + message.body + b"}" in answer.content


def test_a_deal_handed_out_of_scope_leaves_the_feed_of_its_old_team(feed_api: Api) -> None:
    before, cursor = read_all(feed_api, "north-sync", 1000)
    assert "N-3" in {i["message"]["deal"] for i in before}
    write(feed_api, [{"cmd": "owner", "deal": "N-3", "owner": "chen 陈", "team": "south"}])
    write(feed_api, [{"cmd": "visit", "deal": "N-3"}, {"cmd": "visit", "deal": "N-1"}])

    # Read on from the cursor: N-3's handover and later events are not north's.
    after, _ = read_all(feed_api, "north-sync", 2, after=cursor)
    assert [i["message"]["deal"] for i in after] == ["N-1"]
    # Read again from the start: none of its events, its past ones included.
    again, _ = read_all(feed_api, "north-sync", 3)
    assert "N-3" not in {i["message"]["deal"] for i in again}
    # South now reaches all of it, from its opening on, with the relay's messages.
    south, _ = read_all(feed_api, "south-sync", 3)
    of_n3 = [i for i in south if i["message"]["deal"] == "N-3"]
    assert of_n3[0]["type"] == "deal.opened"
    assert [i["type"] for i in of_n3[-2:]] == ["deal.owner_changed", "deal.visit_logged"]
    expected = [
        m for m in relayed(feed_api) if admitted(feed_api, scope_of(feed_api, "south-sync"), m)
    ]
    assert_same(south, expected)


def test_a_scoped_read_goes_no_further_than_the_read_models(feed_api: Api) -> None:
    """An event the read models have not applied may be of a deal they do not know yet
    (or no longer in scope): the cursor stops before it, so it is not skipped."""
    _, cursor = read_all(feed_api, "north-sync", 1000)
    opening = {"cmd": "open", "deal": "N-9", "policy": "five-level", "team": "north"}
    write(
        feed_api,
        [opening | {"owner": "bo", "facts": FIVE_LEVEL_OPENING}],
        catch_up=False,
    )
    page = feed_api.get("north-sync", FEED, after=cursor).json()
    assert page == {"items": [], "next_after": cursor}
    # Over every deal, the read models are not needed: the auditor reads it at once.
    assert [
        i["message"]["deal"] for i in feed_api.get("auditor", FEED, after=cursor).json()["items"]
    ] == ["N-9"]
    feed_api.caught_up()
    page = feed_api.get("north-sync", FEED, after=cursor).json()
    assert [(i["type"], i["message"]["deal"]) for i in page["items"]] == [("deal.opened", "N-9")]
    assert page["next_after"] == page["items"][0]["position"]


@pytest.mark.parametrize("who", ["admin", "auditor", "ana", "bo", "north", "crm"])
def test_only_roles_that_read_the_feed_may(feed_api: Api, who: str) -> None:
    role = principal(feed_api, who).role
    answer = feed_api.get(who, FEED)
    if Action.READ_FEED in PERMISSIONS[role]:
        assert answer.status_code == 200
        return
    # The stream is refused before it starts, so this request does not hang.
    streamed = feed_api.client.get(f"{FEED}/stream", headers=feed_api.auth(who))
    for refused in (answer, streamed):
        assert refused.status_code == 403
        assert refused.json()["code"] == "forbidden"
        assert refused.json()["detail"].startswith(f"{role.named} may not read feed")


def test_no_token_no_feed(feed_api: Api) -> None:
    answer = feed_api.client.get(FEED)
    assert answer.status_code == 401


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"after": -1}, "after"),
        ({"after": "ten"}, "after"),
        ({"after": "1.5"}, "after"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "all"}, "limit"),
        ({"wait": -1}, "wait"),
        ({"wait": 30.5}, "wait"),
        ({"wait": "forever"}, "wait"),
    ],
)
def test_bad_parameters_are_named(feed_api: Api, params: dict[str, Any], field: str) -> None:
    answer = feed_api.get("crm", FEED, **params)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert [e["field"] for e in body["errors"]] == [f"query.{field}"]
    assert answer.headers["content-type"] == "application/problem+json"


def test_a_bad_last_event_id_is_named(feed_api: Api) -> None:
    answer = feed_api.client.get(
        f"{FEED}/stream", headers={**feed_api.auth("crm"), "Last-Event-ID": "yesterday"}
    )
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["header.last-event-id"]


def later(seconds: float, action: Any) -> Iterator[threading.Thread]:
    def run() -> None:
        time.sleep(seconds)
        action()

    thread = threading.Thread(target=run)
    thread.start()
    yield thread
    thread.join()


@pytest.mark.parametrize("who", ["auditor", "north-sync"])
def test_a_long_poll_answers_as_soon_as_an_event_is_written(feed_api: Api, who: str) -> None:
    _, cursor = read_all(feed_api, who, 1000)
    visit = [{"cmd": "visit", "deal": "N-2", "note": "came back"}]
    started = time.monotonic()  # before the writer's clock starts: it writes 0.5 s on
    writer = later(0.5, lambda: write(feed_api, visit))
    next(writer)
    answer = feed_api.get(who, FEED, after=cursor, wait=20)
    took = time.monotonic() - started
    next(writer, None)
    assert answer.status_code == 200
    page = answer.json()
    assert [(i["type"], i["message"]["deal"]) for i in page["items"]] == [
        ("deal.visit_logged", "N-2")
    ]
    assert page["items"][0]["message"]["note"] == "came back"
    assert 0.4 < took < 10


def test_a_long_poll_with_nothing_new_answers_empty_after_the_wait(feed_api: Api) -> None:
    _, cursor = read_all(feed_api, "north-sync", 1000)
    started = time.monotonic()
    page = feed_api.get("north-sync", FEED, after=cursor, wait=1).json()
    assert time.monotonic() - started >= 0.95
    assert page == {"items": [], "next_after": cursor}


def test_a_long_poll_waits_on_past_events_of_other_deals(feed_api: Api) -> None:
    """South's event does not answer north's poll, but its cursor moves past it."""
    _, cursor = read_all(feed_api, "north-sync", 1000)
    south = [{"cmd": "visit", "deal": "S-1"}]
    writer = later(0.3, lambda: write(feed_api, south))
    next(writer)
    started = time.monotonic()
    # A wait long enough for south's write to land within it on a loaded machine.
    page = feed_api.get("north-sync", FEED, after=cursor, wait=5).json()
    took = time.monotonic() - started
    next(writer, None)
    assert took >= 4.9
    assert page["items"] == []
    assert page["next_after"] == cursor + 1


@contextmanager
def served(api: Api) -> Iterator[str]:
    """The service on a real server in a thread: a stream never ends, and the test
    client waits for the end of a response before it hands any of it over."""
    app = create_app(api.context.settings, context=api.context)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def sse_events(lines: Iterator[str], count: int) -> list[dict[str, str]]:
    """The next ``count`` events (or resume points: an id alone) of a stream's lines;
    comment lines are skipped."""
    found: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    for line in lines:
        if line.startswith(":"):
            continue
        if line:
            name, _, value = line.partition(": ")
            fields[name] = value
            continue
        if fields:
            found.append(fields)
            fields = {}
        if len(found) == count:
            break
    return found


def test_the_stream_sends_the_messages_then_new_ones_and_resumes(feed_api: Api) -> None:
    everything = relayed(feed_api)
    with served(feed_api) as url, httpx.Client(base_url=url, timeout=10) as client:
        auth = feed_api.auth("auditor")
        with client.stream("GET", f"{FEED}/stream", headers=auth) as answer:
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/event-stream")
            lines = answer.iter_lines()
            first = sse_events(lines, len(everything))
            assert [(int(e["id"]), e["event"]) for e in first] == [
                (m.position, m.type) for m in everything
            ]
            assert [e["data"].encode() for e in first] == [m.body for m in everything]
            write(feed_api, [{"cmd": "visit", "deal": "S-1", "note": "live"}])
            (new,) = sse_events(lines, 1)
            assert int(new["id"]) == everything[-1].position + 1
            assert json.loads(new["data"])["note"] == "live"
        # A reconnecting client sends the last id it saw: the stream goes on from there.
        resume = auth | {"Last-Event-ID": str(everything[-2].position)}
        with client.stream("GET", f"{FEED}/stream", headers=resume) as answer:
            again = sse_events(answer.iter_lines(), 2)
        assert [int(e["id"]) for e in again] == [everything[-1].position, int(new["id"])]


def test_the_stream_moves_a_scoped_reader_past_other_deals(feed_api: Api) -> None:
    scope = scope_of(feed_api, "north-sync")
    everything = relayed(feed_api)
    mine = [m for m in everything if admitted(feed_api, scope, m)]
    with served(feed_api) as url, httpx.Client(base_url=url, timeout=10) as client:
        headers = feed_api.auth("north-sync")
        with client.stream("GET", f"{FEED}/stream", headers=headers) as answer:
            lines = answer.iter_lines()
            first = sse_events(lines, len(mine))
            assert [int(e["id"]) for e in first] == [m.position for m in mine]
            if mine[-1].position < everything[-1].position:
                # Past the last events, of other deals: a resume point with no event.
                (point,) = sse_events(lines, 1)
                assert point == {"id": str(everything[-1].position)}
            write(feed_api, [{"cmd": "visit", "deal": "S-1"}])
            (passed,) = sse_events(lines, 1)
            write(feed_api, [{"cmd": "visit", "deal": "N-2"}])
            (new,) = sse_events(lines, 1)
        head = everything[-1].position
        assert passed == {"id": str(head + 1)}
        assert (int(new["id"]), new["event"]) == (head + 2, "deal.visit_logged")
        assert json.loads(new["data"])["deal"] == "N-2"


@pytest.mark.parametrize("who", ["north-sync", "seven-sync"])
def test_pages_that_examine_a_few_positions_each_miss_nothing(
    feed_api: Api, who: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a page examining 3 positions, many pages hold none of the caller's events
    and only move the cursor: read on, every message still comes once, in order."""
    monkeypatch.setattr(feed_module, "SCAN", 3)
    everything = relayed(feed_api)
    expected = [m for m in everything if admitted(feed_api, scope_of(feed_api, who), m)]
    pages = []
    after = 0
    while True:
        page = feed_api.get(who, FEED, after=after, limit=1000).json()
        assert page["next_after"] - after <= 3
        pages.append(page)
        if page["next_after"] == after:
            break
        after = page["next_after"]
    assert any(not p["items"] and p["next_after"] > 0 for p in pages[:-1])
    assert_same([i for p in pages for i in p["items"]], expected)
    # A long poll reads on through such pages at once, to the next message.
    first = feed_api.get(who, FEED, after=0, limit=1, wait=5).json()
    assert [i["position"] for i in first["items"]] == [expected[0].position]


def test_a_revoked_token_ends_its_stream(feed_api: Api) -> None:
    everything = relayed(feed_api)
    auditor = next(t for t in feed_api.context.tokens.tokens() if t.name == "audit")
    with served(feed_api) as url, httpx.Client(base_url=url, timeout=10) as client:
        with client.stream("GET", f"{FEED}/stream", headers=feed_api.auth("auditor")) as answer:
            lines = answer.iter_lines()
            assert len(sse_events(lines, len(everything))) == len(everything)
            feed_api.context.tokens.revoke(auditor.id)
            write(feed_api, [{"cmd": "visit", "deal": "S-1", "note": "after revocation"}])
            started = time.monotonic()
            rest = list(lines)  # the stream ends: nothing more is sent
        assert time.monotonic() - started < 5
        assert not any("after revocation" in line for line in rest)
