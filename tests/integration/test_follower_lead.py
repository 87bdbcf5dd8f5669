"""Followers on one PostgreSQL store: one leads and keeps the read models current, the
others wait, and one of them takes over when the leader stops or loses its session."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg
import pytest

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.domain.errors import StoreUnavailable
from salesengine.projections import follower_lead
from salesengine.projections.runner import LOCK, CatchUpReport, Progress, ProjectionRunner
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.brokers import wait_for
from tests.support.clock import T0, Clock
from tests.support.commands import cmd
from tests.support.services import PG_URL

pytestmark = pytest.mark.postgres


@dataclass
class Follower:
    """A runner following in a thread, and what it did."""

    runner: ProjectionRunner
    stop: threading.Event = field(default_factory=threading.Event)
    catch_ups: int = 0
    applied: int = 0
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def start(self) -> None:
        catch_up = self.runner.catch_up

        def counted(on_progress: Progress | None = None) -> CatchUpReport:
            self.catch_ups += 1
            return catch_up(on_progress)

        self.runner.catch_up = counted  # type: ignore[method-assign]

        def run() -> None:
            try:
                self.runner.follow(poll_seconds=0.02, on_batch=self._note, stop=self.stop.is_set)
            except BaseException as e:  # asserted by the tests
                self.error = e

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def _note(self, report: CatchUpReport) -> None:
        self.applied += report.applied

    def halt(self) -> None:
        self.stop.set()
        assert self.thread is not None
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def url(pg_schema: str) -> str:
    return f"{PG_URL}?schema={pg_schema}"


@pytest.fixture
def engine(url: str) -> Iterator[SalesEngine]:
    engine = build_engine(url, clock=Clock(T0 + timedelta(days=60)), actor="tester")
    yield engine
    engine.close()


@pytest.fixture
def follower(url: str) -> Iterator[Callable[[], Follower]]:
    made: list[tuple[Follower, SalesEngine]] = []

    def make() -> Follower:
        own = build_engine(url, actor="runner")
        f = Follower(ProjectionRunner(own, sql_engine(store_settings(url))))
        made.append((f, own))
        return f

    yield make
    for f, own in made:
        f.stop.set()
        if f.thread is not None:
            f.thread.join(10)
        f.runner.sql.dispose()
        own.close()


def write(engine: SalesEngine, first: int, deals: int) -> int:
    """Open ``deals`` deals, each with a visit; the log's head after them."""
    for n in range(first, first + deals):
        engine.execute(
            cmd(deal=f"D{n}", cmd="open", policy="seven-stage", at=T0, owner="rep", amount="10")
        )
        engine.execute(cmd(deal=f"D{n}", cmd="visit", at=T0 + timedelta(hours=1)))
    head = engine.recorder.max_notification_id()
    assert head is not None
    return head


def current(runner: ProjectionRunner, head: int, what: str) -> None:
    """Wait until ``runner``'s read models are all at ``head``, failing with ``what``."""

    def at_head() -> bool:
        positions = runner.positions()
        return bool(positions) and all(p >= head for p in positions.values())

    wait_for(at_head, 15, what)


def leader_and_waiting(
    engine: SalesEngine, follower: Callable[[], Follower], deals: int
) -> tuple[Follower, Follower]:
    """A follower that leads, once it has caught up ``deals`` deals, and one started after it."""
    first = follower()
    first.start()
    current(first.runner, write(engine, 0, deals), "the first follower at the head")
    second = follower()
    second.start()
    return first, second


def lead_holder() -> int | None:
    """The backend holding the followers' lead (a bigint advisory key: high and low words)."""
    key = LOCK + follower_lead.LEAD_OFFSET
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = %s AND objid = %s AND objsubid = 1",
            (key >> 32, key & 0xFFFFFFFF),
        ).fetchone()
    return None if row is None else int(row[0])


def test_one_follower_leads_and_another_takes_over_when_it_stops(
    engine: SalesEngine, follower: Callable[[], Follower]
) -> None:
    first, second = leader_and_waiting(engine, follower, 5)
    head = write(engine, 5, 5)
    current(first.runner, head, "the leader at the head")
    time.sleep(0.2)  # the waiting follower has had time to poll for the lead many times
    assert second.catch_ups == 0, "a follower caught up while another led"
    # A follower counts a batch after its catch-up has committed the positions read above.
    wait_for(lambda: first.applied == 20, 5, "the leader to count 20 applied events")

    first.halt()
    head = write(engine, 10, 5)
    current(second.runner, head, "a follower to take over the lead")
    wait_for(lambda: second.applied == 10, 5, "the new leader to count 10 applied events")
    assert first.error is None and second.error is None


def test_a_leader_whose_session_ends_says_so_and_another_takes_over(
    engine: SalesEngine, follower: Callable[[], Follower], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(follower_lead, "CHECK_SECONDS", 0.05)
    first, second = leader_and_waiting(engine, follower, 3)
    holder = lead_holder()
    assert holder is not None
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (holder,))
    assert first.thread is not None
    first.thread.join(10)
    assert isinstance(first.error, StoreUnavailable)
    assert "lost the read models' lead" in str(first.error)
    head = write(engine, 3, 3)
    current(second.runner, head, "a follower to take over the lead")
    wait_for(lambda: second.applied == 6, 5, "the new leader to count 6 applied events")
    assert lead_holder() not in (None, holder)
