"""The webhook transport: each integration event POSTed to one URL, signed.

It follows the Standard Webhooks convention: the body is the event's JSON document (as
published on the brokers), with the headers ``webhook-id`` (the event id: the same on
every retry and replay, the receiver's key to drop copies), ``webhook-timestamp`` (unix
seconds of this attempt) and ``webhook-signature`` (see ``webhook_signing``).

The relay hands it a page's deals' chains, as to the other unpipelined transports: up to
``concurrency`` deliveries are under way at once, each deal's strictly one after the
other, so a deal's events never overtake each other. ``publish`` returns once the event
is delivered (2xx) or refused (see ``webhook_retry``: recorded in the failures table,
told to ``on_rejected``); in between it tries again, for as long as it takes, unless
the receiver has answered nothing usable for ``give_up_seconds`` (the relay's
``--timeout``: then ``BrokerUnavailable``, and the relay gives up as it does on a
broker) or ``stop_retrying`` was called (a stop signal: the relay stops at its stored
position, which a delivery still owed has not passed).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit

import httpx

from salesengine.integration.translate import PERSONAL_TYPES
from salesengine.integration.transports import JSON, BrokerUnavailable, Outgoing, Transport
from salesengine.integration.webhook_failures import Failure, FailureLog, excerpt, withheld
from salesengine.integration.webhook_retry import Outcome, RetryPolicy, outcome, retry_after
from salesengine.integration.webhook_signing import signature
from salesengine.store.settings import without_password

REQUEST_TIMEOUT = 15.0  # seconds for one attempt; the convention suggests 15 to 30
CONCURRENCY = 8  # deliveries under way at once (each to a different deal)


class WebhookURLError(ValueError):
    """A webhook URL that is not an http(s) URL with a host."""


@dataclass(frozen=True, slots=True)
class WebhookURL:
    url: str

    @property
    def display(self) -> str:
        """For messages: no password, and no query (it may hold a token)."""
        parts = urlsplit(without_password(self.url))
        return parts._replace(query="***" if parts.query else "", fragment="").geturl()

    @property
    def default_name(self) -> str:
        """The relay's name (its tracking position) when none is given."""
        parts = urlsplit(self.url)
        port = f":{parts.port}" if parts.port else ""
        return f"webhook:{parts.hostname}{port}{parts.path}"[:128]


def parse_webhook_url(url: str) -> WebhookURL:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as e:
        raise WebhookURLError(f"webhook URL '{url}': {e}") from None
    if parts.scheme.lower() not in ("http", "https") or "://" not in url:
        raise WebhookURLError(f"webhook URL '{url}': the scheme must be http:// or https://")
    if not parts.hostname:
        raise WebhookURLError(f"webhook URL '{url}' names no host")
    return WebhookURL(url)


@dataclass(slots=True)
class WebhookOptions:
    request_timeout: float = REQUEST_TIMEOUT
    concurrency: int = CONCURRENCY
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # BrokerUnavailable once no attempt has been answered usably for this long; None:
    # try for ever. The relay's give_up_seconds, which then gives up at once.
    give_up_seconds: float | None = None


class WebhookTransport(Transport):
    kind = "webhook"

    def __init__(
        self,
        url: WebhookURL,
        keys: tuple[bytes, ...],
        failures: FailureLog,
        relay_name: str,
        options: WebhookOptions | None = None,
        *,
        on_retry: Callable[[Outgoing, str, float], None] | None = None,
        on_rejected: Callable[[Failure], None] | None = None,
    ) -> None:
        if not keys:
            raise ValueError("a webhook transport needs at least one key")
        self.url = url
        self.keys = keys
        self.failures = failures
        self.relay_name = relay_name
        self.options = options or WebhookOptions()
        self.in_flight = self.options.concurrency
        self.on_retry = on_retry
        self.on_rejected = on_rejected
        self._client: httpx.AsyncClient | None = None
        self._failing_since: float | None = None  # loop time of a failure since no answer
        self._stop_asked = False
        self._stopping: asyncio.Event | None = None  # made on the loop that runs it

    async def start(self) -> None:
        """A new client (and connection pool). Nothing is sent: a receiver that is down
        shows in the first delivery, which is retried as any other."""
        await self.stop()
        self._stopping = asyncio.Event()
        if self._stop_asked:
            self._stopping.set()
        concurrency = self.options.concurrency
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.options.request_timeout),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            follow_redirects=False,
            headers={"user-agent": _user_agent()},
        )

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):  # a broken pool has nothing to close
                await client.aclose()

    def stop_retrying(self) -> None:
        """Deliveries waiting to be tried again give up (``BrokerUnavailable``) instead;
        attempts under way end as they do."""
        self._stop_asked = True
        if self._stopping is not None:
            self._stopping.set()

    async def publish(self, message: Outgoing) -> None:
        """Deliver the message, or record that the receiver refused it."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            if self._stop_asked:
                raise BrokerUnavailable("stopped with deliveries owed")
            attempt += 1
            asked: float | None = None
            try:
                response = await self._attempt(message)
            except (httpx.TimeoutException, TimeoutError):
                reason = f"no answer within {self.options.request_timeout:g} s"
            except httpx.HTTPError as e:  # refused, reset, closed mid-answer, ...
                reason = _reason(e)
            else:
                answered = outcome(response.status_code)
                if answered is Outcome.DELIVERED:
                    self._failing_since = None
                    return
                if answered is Outcome.REJECTED:
                    self._failing_since = None
                    self._reject(message, response)
                    return
                reason = f"answered {_status(response)}"
                asked = retry_after(response.headers.get("retry-after"))
            now = loop.time()
            if self._failing_since is None:
                self._failing_since = now
            delay = self.options.retry.delay(attempt, asked)
            give_up = self.options.give_up_seconds
            if give_up is not None:
                left = self._failing_since + give_up - now
                if left <= 0:
                    raise BrokerUnavailable(reason)
                delay = min(delay, left)  # one more attempt when the time is up
            if self.on_retry is not None:
                self.on_retry(message, reason, delay)
            await self._pause(delay)

    async def _pause(self, seconds: float) -> None:
        """Wait, unless or until ``stop_retrying`` is called."""
        if self._stopping is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _attempt(self, message: Outgoing) -> httpx.Response:
        client = self._client
        if client is None:
            raise BrokerUnavailable("not started")
        timestamp = int(time.time())
        headers = {
            "content-type": JSON,
            "webhook-id": message.id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(self.keys, message.id, timestamp, message.body),
        }
        # httpx bounds each phase (connect, write, each read); this bounds the attempt, so
        # a receiver that answers a byte at a time counts as not answering.
        async with asyncio.timeout(self.options.request_timeout):
            return await client.post(self.url.url, content=message.body, headers=headers)

    def _reject(self, message: Outgoing, response: httpx.Response) -> None:
        """Record a refusal (in the store: it is durable before the relay's position
        can pass the event) and say so."""
        failure = Failure(
            relay=self.relay_name,
            position=message.position,
            event_id=message.id,
            event_type=message.type,
            deal_id=message.deal_id,
            url=self.url.display,
            status=response.status_code,
            response=withheld(response.content)
            if message.type in PERSONAL_TYPES
            else excerpt(response.content),
            failed_at=datetime.now(UTC),
        )
        self.failures.record(failure)
        if self.on_rejected is not None:
            self.on_rejected(failure)


def _status(response: httpx.Response) -> str:
    phrase = response.reason_phrase
    return f"{response.status_code} {phrase}" if phrase else str(response.status_code)


def _reason(error: httpx.HTTPError) -> str:
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    name = type(error).__name__
    return f"{name}: {first}" if first else name


def _user_agent() -> str:
    try:
        return f"salesengine/{version('salesengine')}"
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "salesengine"
