"""The relay: the notification log, in order, onto a broker, at least once.

It reads a page of the log after its tracking position, turns each event into its
integration event, publishes them (``relay_publishing``: each deal's in order, deals at
once), and moves its position (``relay_positions``) past the page only once the broker
has acknowledged every message in it. A relay that dies, or a broker that drops a
message, so costs a republish, never a loss; the event id (the same on every publish)
lets the broker or the subscriber drop the copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from salesengine.application.engine import SalesEngine
from salesengine.domain.policy import FunnelPolicy
from salesengine.integration.messages import engine_translator, outgoing
from salesengine.integration.relay_positions import PositionStore
from salesengine.integration.relay_publishing import publish_page
from salesengine.integration.translate import TOPICS
from salesengine.integration.transports.base import BrokerUnavailable, Outgoing, Transport
from salesengine.store.identity import store_id
from salesengine.store.notification_log import LogReader


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits between attempts: doubling from ``first`` up to ``most``, with jitter."""

    first: float = 0.2
    most: float = 10.0

    def delay(self, attempt: int) -> float:
        base = min(self.most, self.first * float(2 ** max(0, attempt - 1)))
        jitter: float = random.uniform(0.8, 1.2)  # spreads out relays retrying together
        return base * jitter


@dataclass(slots=True)
class RelayProgress:
    """Where a relay stands: its position, the log's head, and what it has sent."""

    position: int
    head: int
    published: int = 0  # messages acknowledged in this run
    seconds: float = 0.0

    @property
    def behind(self) -> int:
        return max(0, self.head - self.position)

    @property
    def rate(self) -> float:
        return self.published / self.seconds if self.seconds else 0.0


class RelayGaveUp(Exception):
    """The broker stayed unavailable for longer than the relay was to wait for it."""

    def __init__(self, reason: str, seconds: float, progress: RelayProgress) -> None:
        super().__init__(f"unavailable for {seconds:.0f} s: {reason}")
        self.reason = reason
        self.seconds = seconds
        self.progress = progress


SLICE = 100  # log positions read and translated between two turns of the event loop


@dataclass(slots=True)
class RelayOptions:
    name: str = "default"
    batch_size: int = 1000
    poll_seconds: float = 0.02
    report_seconds: float = 1.0
    backoff: Backoff = field(default_factory=Backoff)
    # Give up (RelayGaveUp) once the broker has been unavailable this long; None: never.
    # An attempt under way when the time is up (a connect or an ack, at most 10 s)
    # ends first.
    give_up_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """The messages of the log positions up to ``stop`` (from the previous page's)."""

    stop: int
    messages: list[Outgoing]


class Relay:
    def __init__(
        self,
        engine: SalesEngine,
        sql: Engine,
        transport: Transport,
        options: RelayOptions | None = None,
        *,
        on_progress: Callable[[RelayProgress], None] | None = None,
        on_retry: Callable[[str, float], None] | None = None,
        on_note: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.on_note = on_note
        self.transport = transport
        self.options = options or RelayOptions()
        self.positions = PositionStore(sql, self.options.name)
        self.store_id = store_id(sql)
        self.log = LogReader(engine, TOPICS)
        self.translator = engine_translator(
            engine, self.log, self.store_id, on_unknown=self._unknown_version
        )
        self._subjects: dict[tuple[str, str], str] = {}  # (type, policy) -> subject
        self.on_progress = on_progress
        self.on_retry = on_retry
        self._started = False

    async def run(
        self,
        *,
        follow: bool = False,
        from_position: int | None = None,
        stop: asyncio.Event | None = None,
    ) -> RelayProgress:
        """Publish every event after the tracking position (or from ``from_position``
        on, which is stored first so a restart keeps replaying); with ``follow``, keep
        tailing the log until ``stop`` is set."""
        position = self._start_position(from_position)
        progress = RelayProgress(position=position, head=self.log.head())
        started = reported = time.perf_counter()
        failures = 0
        loop = asyncio.get_running_loop()
        healthy_since = loop.time()  # when the broker last did what was asked
        page: Page | None = None  # the next page, read and translated
        ahead: asyncio.Future[Page] | None = None  # the one after, being prepared
        try:
            while stop is None or not stop.is_set():
                try:
                    if not await self._ensure_started(healthy_since, stop):
                        break
                    progress.head = self.log.head()
                    if page is None and position < progress.head:
                        page = await self._prepare(position, progress.head)
                    if page is None:
                        if not follow:
                            break
                        healthy_since = loop.time()
                        await self._wait(stop, self.options.poll_seconds)
                        continue
                    if page.stop < progress.head:
                        # Read and translate the next page while this one is in flight.
                        ahead = asyncio.ensure_future(self._prepare(page.stop, progress.head))
                    await publish_page(self.transport, page.messages)
                except BrokerUnavailable as e:
                    failures += 1
                    await self._discard(ahead)
                    page = ahead = None
                    down = loop.time() - healthy_since
                    await self._recover(str(e), failures, stop, down, progress)
                    continue
                failures = 0
                healthy_since = loop.time()
                self.positions.save(page.stop)
                position = progress.position = page.stop
                progress.published += len(page.messages)
                page = await ahead if ahead is not None else None
                ahead = None
                reported = self._report(progress, started, reported)
        finally:
            await self._discard(ahead)
            progress.seconds = time.perf_counter() - started
            await self.close()
        if self.on_progress is not None:
            self.on_progress(progress)
        return progress

    def _start_position(self, from_position: int | None) -> int:
        """The position to start after: ``from_position``'s, stored, or the stored one."""
        if from_position is not None:
            if from_position < 1:
                raise ValueError(f"--from-position must be 1 or more, not {from_position}")
            self.positions.save(from_position - 1)
        return self.positions.load()

    async def close(self) -> None:
        if self._started:
            self._started = False
            await self.transport.stop()

    async def _ensure_started(self, healthy_since: float, stop: asyncio.Event | None) -> bool:
        """Connect, if not connected; False if ``stop`` was set meanwhile. A connect
        attempt ends when the relay is stopped or gives up, however long the client
        would go on trying."""
        if self._started:
            return True
        loop = asyncio.get_running_loop()
        give_up = self.options.give_up_seconds
        timeout = None if give_up is None else max(0.0, healthy_since + give_up - loop.time())
        starting = asyncio.ensure_future(self.transport.start())
        stopped = asyncio.ensure_future(stop.wait()) if stop is not None else None
        try:
            await asyncio.wait(
                [f for f in (starting, stopped) if f is not None],
                timeout=timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            await self._discard(stopped)
        if not starting.done():
            await _cancel_until_done(starting)
            await self.transport.stop()
            if stop is not None and stop.is_set():
                return False
            waited = loop.time() - healthy_since
            raise BrokerUnavailable(f"no connection within {waited:.0f} s")
        starting.result()  # BrokerUnavailable if it failed
        self._started = True
        return stop is None or not stop.is_set()

    def _report(self, progress: RelayProgress, started: float, reported: float) -> float:
        """Tell ``on_progress`` at most every ``report_seconds``; when it last was told."""
        now = time.perf_counter()
        progress.seconds = now - started
        if self.on_progress is None or now - reported < self.options.report_seconds:
            return reported
        self.on_progress(progress)
        return now

    async def _recover(
        self,
        reason: str,
        failures: int,
        stop: asyncio.Event | None,
        down: float,
        progress: RelayProgress,
    ) -> None:
        """After a failed page: start again from the stored position, reconnected, after
        a backoff; or give up, the broker having been unavailable for ``down`` seconds."""
        self.translator.clear()  # what it noted of the pages is noted again
        await self.close()  # reconnect, and declare the stream again
        give_up = self.options.give_up_seconds
        if give_up is not None and down >= give_up:
            raise RelayGaveUp(reason, down, progress)
        delay = self.options.backoff.delay(failures)
        if give_up is not None:  # one more attempt when the time is up, not after
            delay = min(delay, give_up - down)
        if self.on_retry is not None:
            self.on_retry(reason, delay)
        await self._wait(stop, delay)

    async def _prepare(self, start: int, head: int) -> Page:
        """The page after ``start``, read and translated a slice at a time.

        It runs on the event loop, beside the page in flight: between slices the loop
        takes the acks that came in and sends the messages they release. (A reader
        thread cost more than it gave: the work holds the GIL, so the loop waited for
        it after every socket call, and the translation gained nothing in parallel.)
        """
        stop = min(start + self.options.batch_size, head)
        messages: list[Outgoing] = []
        while start < stop:
            end = min(start + SLICE, stop)
            messages += self._read_slice(start, end)
            start = end
            if start < stop:
                await asyncio.sleep(0)
        return Page(stop, messages)

    def _read_slice(self, start: int, stop: int) -> list[Outgoing]:
        """The messages of the log positions after ``start`` up to ``stop``."""
        messages = []
        translate = self.translator.translate
        subjects = self._subjects
        store = str(self.store_id)
        for position, deal_id, event in self.log.read(start, stop):
            message = translate(position, event)
            if message is None:
                continue
            # A subject is made from a type and a policy: once each, not per message.
            where = subjects.get((message.type, message.policy))
            if where is None:
                where = subjects[message.type, message.policy] = message.subject
            messages.append(outgoing(message, deal_id, store, where))
        return messages

    @staticmethod
    async def _discard(ahead: asyncio.Future[Any] | None) -> None:
        """Stop what will not be used: a page being prepared that will not be published
        (it is read again), a connect attempt, a wait."""
        if ahead is not None:
            ahead.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await ahead

    def _unknown_version(self, name: str, version: str, used: FunnelPolicy | None) -> None:
        """Say (once per version) that a version's probabilities are the file's stand-in."""
        if self.on_note is None:
            return
        instead = (
            f"with the file's version {used.fingerprint}"
            if used is not None
            else "as null: no policy file defines it"
        )
        self.on_note(
            f"policy {name!r} version {version} is neither kept in the store nor the version "
            f"of its policy file: the probabilities of events decided under it are published "
            f"{instead}"
        )

    @staticmethod
    async def _wait(stop: asyncio.Event | None, seconds: float) -> None:
        if stop is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)


async def _cancel_until_done(task: asyncio.Future[Any]) -> None:
    """Cancel a connect attempt, again until it ends. nats-py can swallow a cancellation:
    one that lands as a refused connection fails (Python 3.11's ``wait_for`` then raises
    the failure instead) is taken for that failure, and the client tries the next
    connection, for as long as its reconnect attempts last (20 s)."""
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.05)
    if not task.cancelled():
        task.exception()  # retrieved: it is the attempt's, and the caller reports its own
