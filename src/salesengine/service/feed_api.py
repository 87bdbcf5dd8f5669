"""``/api/v1/feed``: the change feed, for integrations (and auditors, admins): the
integration messages of the events after a log position, as the relay publishes them,
of the caller's deals only; with ``wait``, a long poll that answers as soon as there is
something to read. ``/api/v1/feed/stream`` is the same as server-sent events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from salesengine.access.principal import Principal, Scope
from salesengine.access.roles import Action
from salesengine.access.tokens import UnknownToken
from salesengine.integration.feed import MAX_LIMIT, ChangeFeed, FeedItem
from salesengine.service.auth import Context, allowed
from salesengine.service.context import ServiceContext
from salesengine.service.openapi import MEANING, described
from salesengine.service.params import KnownQuery
from salesengine.service.problems import Problem
from salesengine.service.schemas import Closed

router = APIRouter(prefix="/api/v1/feed", tags=["feed"], dependencies=[KnownQuery])

FeedReader = Annotated[Principal, Depends(allowed(Action.READ_FEED))]

MAX_WAIT = 30.0  # seconds a long poll may be held
POLL_SECONDS = 0.1  # between two checks of the log while a request waits
HEARTBEAT_SECONDS = 15.0  # between two comment lines of a quiet stream

After = Annotated[
    int,
    Query(
        ge=0,
        description="The log position to read after: 0 for the start, then the "
        "next_after of the page before.",
    ),
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Messages per page, at most.")]
Wait = Annotated[
    float,
    Query(
        ge=0,
        le=MAX_WAIT,
        description="Seconds to hold the request while there is nothing to read yet.",
    ),
]


async def change_feed(request: Request, ctx: Context) -> ChangeFeed:
    """The service's feed reader, made on first use (it reads the store's id)."""
    found = getattr(request.app.state, "change_feed", None)
    if isinstance(found, ChangeFeed):
        return found
    made = await run_in_threadpool(ChangeFeed, ctx.engine, ctx.reads)
    request.app.state.change_feed = made
    return made


Feed = Annotated[ChangeFeed, Depends(change_feed)]


class FeedItemDocument(Closed):
    """One message of the feed (documentation: the answer is written directly)."""

    position: int = Field(description="the event's log position (the relay's header)")
    id: str = Field(description="the event id (the relay's message_id header)")
    type: str = Field(description="the event type (the relay's event_type header)")
    schema_version: int
    subject: str = Field(description="where a broker files the message")
    message: dict[str, Any] = Field(
        description="the body as the relay publishes it (docs/integration/schemas)"
    )


class FeedPageDocument(Closed):
    items: list[FeedItemDocument]
    next_after: int = Field(description="send it as `after` to read on")


@router.get(
    "",
    summary="The change feed: integration messages after a log position",
    response_model=FeedPageDocument,
    responses=described(
        {
            401: MEANING[401],
            403: "The role may not read the feed.",
            422: "A bad after, limit or wait (the parameter is named).",
            503: MEANING[503],
        }
    ),
)
async def feed_page(
    feed: Feed,
    who: FeedReader,
    after: After = 0,
    limit: Limit = 100,
    wait: Wait = 0.0,
) -> Response:
    """The messages of the caller's deals after position ``after``, in log order, each as
    a broker's subscriber receives it: ``message`` is the body, ``id``, ``type`` and
    ``position`` what the headers carry. Read on from ``next_after``. With ``wait``,
    an empty page is answered only once that many seconds have passed without news."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    page = await run_in_threadpool(feed.page, who.scope, after, limit)
    while not page.items and loop.time() < deadline:
        if page.caught_up:
            await _news(feed, who.scope, page.next_after, deadline)
        page = await run_in_threadpool(feed.page, who.scope, page.next_after, limit)
    body = b'{"items":[%s],"next_after":%d}' % (
        b",".join(map(_item_json, page.items)),
        page.next_after,
    )
    return Response(body, media_type="application/json")


EVENTS: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
        "description": "Events, without end.",
    }
}


@router.get(
    "/stream",
    summary="The change feed as server-sent events",
    response_class=StreamingResponse,
    responses=EVENTS
    | described(
        {
            401: MEANING[401],
            403: "The role may not read the feed.",
            422: "A bad after or Last-Event-ID (the parameter is named).",
            503: MEANING[503],
        }
    ),
)
async def stream(
    ctx: Context,
    feed: Feed,
    who: FeedReader,
    after: After = 0,
    last_event_id: Annotated[
        str | None,
        Header(description="Set by a reconnecting EventSource: the position to resume after."),
    ] = None,
) -> StreamingResponse:
    """Every message of the caller's deals after ``after`` (or ``Last-Event-ID``), then
    each new one as it is recorded: ``id`` is its log position, ``event`` its type,
    ``data`` its body. A line ``id: N`` with no data moves the resume point past events
    of other deals."""
    if last_event_id is not None:
        if not (last_event_id.isascii() and last_event_id.isdigit() and len(last_event_id) < 19):
            message = "a log position: a whole number, 0 or more"
            raise Problem(
                422,
                "invalid_request",
                f"header.last-event-id: {message}",
                errors=[{"field": "header.last-event-id", "message": message}],
            )
        after = int(last_event_id)

    async def events() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        position = after
        while True:
            # The token is checked again before each page: a revoked one ends its streams
            # within a heartbeat, as it would end a client's next request.
            if not await run_in_threadpool(_still_valid, ctx, who):
                return
            page = await run_in_threadpool(feed.page, who.scope, position, MAX_LIMIT)
            for item in page.items:
                yield b"id: %d\nevent: %s\ndata: %s\n\n" % (
                    item.position,
                    item.type.encode(),
                    item.body,
                )
            if page.next_after > (page.items[-1].position if page.items else position):
                yield b"id: %d\n\n" % page.next_after
            position = page.next_after
            if page.items or not page.caught_up:
                continue
            if not await _news(feed, who.scope, position, loop.time() + HEARTBEAT_SECONDS):
                # A comment line: proxies keep a quiet connection open, and a client
                # that has gone is found out when it cannot be written to.
                yield b": no news\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def _still_valid(ctx: ServiceContext, who: Principal) -> bool:
    if who.token_id is None:  # pragma: no cover - every principal here has a token
        return True
    try:
        return not ctx.tokens.get(who.token_id).revoked
    except UnknownToken:
        return False


async def _news(feed: ChangeFeed, scope: Scope, after: int, deadline: float) -> bool:
    """Whether the log could be read past ``after`` for ``scope`` before ``deadline``.
    Each check is a small query or two in a worker thread; none is held in between."""
    loop = asyncio.get_running_loop()
    while True:
        left = deadline - loop.time()
        if left <= 0:
            return False
        await asyncio.sleep(min(POLL_SECONDS, left))
        if await run_in_threadpool(feed.readable_past, scope, after):
            return True


def _item_json(item: FeedItem) -> bytes:
    # The body goes in as the relay's bytes, not parsed and written again.
    envelope = orjson.dumps(
        {
            "position": item.position,
            "id": item.id,
            "type": item.type,
            "schema_version": item.schema_version,
            "subject": item.subject,
        }
    )
    return envelope[:-1] + b',"message":' + item.body + b"}"
