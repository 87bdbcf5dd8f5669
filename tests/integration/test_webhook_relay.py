"""``salesengine relay --webhook`` against a real receiver that fails, stalls and restarts.

The receiver (tests/support/webhook_receiver.py) is a real HTTP server in its own
process, logging every attempt. Nothing is mocked: the relay runs as a user runs it.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from salesengine.bootstrap import build_engine
from salesengine.integration.contract import IntegrationEvent
from tests.support.brokers import free_port, wait_for
from tests.support.cli_runner import run_cli
from tests.support.clock import T0
from tests.support.commands import FIVE_LEVEL_OPENING, cmd
from tests.support.relay import expected_messages
from tests.support.relay_process import start_relay, stored_position
from tests.support.webhook import Attempt, ReceiverProcess, receiver

__all__ = ["receiver"]  # a fixture
DEALS = 40


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small store: 40 deals, four events each, their log interleaved."""
    path = tmp_path_factory.mktemp("webhook") / "store.db"
    engine = build_engine(str(path), actor="tester")
    try:
        keys = [f"W-{n}" for n in range(DEALS)]
        for key in keys:
            engine.execute(
                cmd(cmd="open", deal=key, policy="five-level", at=T0, facts=FIVE_LEVEL_OPENING)
            )
        for step in ("visit", "amount", "amount"):
            for n, key in enumerate(keys):
                if step == "visit":
                    engine.execute(cmd(cmd="visit", deal=key, at=T0, effective=True))
                else:
                    amount = str(100 + n + len(step))
                    engine.execute(
                        cmd(cmd="amount", deal=key, at=T0, amount=amount, currency="EUR")
                    )
    finally:
        engine.close()
    return path


@pytest.fixture
def store(template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    path.write_bytes(template.read_bytes())
    return path


@pytest.fixture
def secret(tmp_path: Path) -> tuple[str, Path]:
    path = tmp_path / "webhook.secret"
    made = run_cli("webhook", "new-secret", str(path), db=tmp_path / "unused.db")
    assert made.returncode == 0, made.stderr
    assert path.stat().st_mode & 0o777 == 0o600
    return path.read_text().strip(), path


def owed(store: Path) -> list[IntegrationEvent]:
    """The messages the relay owes for the store, in log order."""
    from salesengine.store.settings import store_settings
    from salesengine.store.sql import sql_engine

    engine = build_engine(str(store), actor="tester", create=False)
    sql = sql_engine(store_settings(str(store)))
    try:
        return expected_messages(engine, sql)
    finally:
        sql.dispose()
        engine.close()


def finish(relay: subprocess.Popen[bytes], seconds: float) -> int:
    try:
        return relay.wait(seconds)
    finally:
        relay.kill()
        relay.wait()


def test_nothing_is_lost_order_per_deal_is_kept_and_every_signature_verifies(
    store: Path, secret: tuple[str, Path], receiver: ReceiverProcess, tmp_path: Path
) -> None:
    messages = owed(store)
    assert len(messages) == 4 * DEALS
    positions = [m.position for m in messages]
    too_many, unavailable, stall, refused = (positions[i] for i in (12, 47, 81, 99))
    plan: dict[str, Any] = {
        "fail_every": 7,  # a 500 now and then
        "too_many": [too_many],  # 429, Retry-After: 2 (seconds)
        "unavailable": [unavailable],  # 503, Retry-After: an HTTP date 2 s ahead
        "retry_after": 2,
        "stall": [stall],  # past the relay's --request-timeout
        "stall_seconds": 3,
        "refuse": [refused],  # 400, every time
        "delay": 0.005,
    }
    receiver.start(**plan, crash_after=70)  # dies mid-stream, on an unanswered request
    out = tmp_path / "relay.out"
    relay = start_relay(
        store, out, "--webhook", receiver.url, "--secret-file", str(secret[1]), "--once",
        "--request-timeout", "1", "--batch-size", "25", "--concurrency", "4", "--name", "hook",
    )  # fmt: skip
    try:
        assert receiver.process is not None
        receiver.process.wait(60)  # its crash
        time.sleep(1.0)  # down for a while: the relay's attempts are refused meanwhile
        receiver.start(**plan)
        code = relay.wait(120)
    finally:
        relay.kill()
        relay.wait()
    output = out.read_text(errors="replace")
    assert code == 0, output
    attempts = receiver.attempts()
    refused_id = next(str(m.id) for m in messages if m.position == refused)
    check_signed_delivered_in_order(attempts, secret[0], messages, refused_id)

    # The faults happened, and each retry waited as long as it was asked to.
    def at(position: int) -> list[Attempt]:
        return [a for a in attempts if a.event["position"] == position]

    statuses = [a.status for a in attempts]
    assert statuses.count(-1) == 1 and 500 in statuses
    assert [a.status for a in at(too_many)][:2] == [429, 200]
    assert at(too_many)[1].at - at(too_many)[0].at >= 2.0 - 0.05
    assert [a.status for a in at(unavailable)][:2] == [503, 200]
    assert at(unavailable)[1].at - at(unavailable)[0].at >= 1.0 - 0.05  # a date: to the second
    assert [a.status for a in at(stall)][:1] == [0]
    assert at(stall)[1].at - at(stall)[0].at >= 1.0 - 0.05  # the request timed out first
    assert "answered 503 Service Unavailable; retrying in" in output
    assert "answered 429 Too Many Requests; retrying in" in output
    assert "no answer within 1 s; retrying in" in output
    assert f"refused the event at position {refused:,}" in output
    assert "this event is not wanted here" in output

    # Caught up: the position is the log's head; the refusal is kept in the store.
    assert stored_position(store, "hook") == max(positions)
    check_failures_listed(store, refused, refused_id)


def check_signed_delivered_in_order(
    attempts: list[Attempt], secret: str, messages: list[IntegrationEvent], refused_id: str
) -> None:
    # Every signature, of every attempt, verifies with the reference implementation, and
    # the id signed is the event's.
    verifier = Webhook(secret)
    for attempt in attempts:
        verifier.verify(attempt.body, attempt.headers)
        assert attempt.headers["webhook-id"] == attempt.event["id"]
        assert attempt.headers["content-type"] == "application/json"

    # Nothing lost: every event delivered (2xx) at least once, but the refused one.
    delivered = {a.event["id"] for a in attempts if a.status == 200}
    assert delivered == {str(m.id) for m in messages} - {refused_id}
    assert {a.status for a in attempts if a.event["id"] == refused_id} == {400}

    # Each deal's attempts in version order: a delivery never overtakes an earlier one
    # of its deal, retries included.
    versions: dict[str, list[int]] = {}
    for attempt in attempts:
        versions.setdefault(attempt.event["deal_id"], []).append(attempt.event["version"])
    assert len(versions) == DEALS
    for deal, seen in versions.items():
        assert seen == sorted(seen), deal
        assert sorted(set(seen)) == [1, 2, 3, 4], deal


def check_failures_listed(store: Path, refused: int, refused_id: str) -> None:
    listed = run_cli("webhook", "failures", "--json", db=store)
    assert listed.returncode == 0, listed.stderr
    failures = json.loads(listed.stdout)
    assert [(f["position"], f["event_id"], f["status"]) for f in failures] == [
        (refused, refused_id, 400)
    ]
    assert failures[0]["relay"] == "hook"
    assert "not wanted" in failures[0]["response"]
    shown = run_cli("webhook", "failures", db=store)
    assert "1 refused deliveries" in shown.stdout
    assert refused_id in shown.stdout


def test_replay_from_a_position_delivers_again_from_there(
    store: Path, secret: tuple[str, Path], receiver: ReceiverProcess, tmp_path: Path
) -> None:
    messages = owed(store)
    receiver.start()
    args = ("--webhook", receiver.url, "--secret-file", str(secret[1]), "--once")
    first = start_relay(store, tmp_path / "first.out", *args)
    assert finish(first, 60) == 0, (tmp_path / "first.out").read_text()
    assert len(receiver.attempts()) == len(messages)

    # Nothing new: nothing sent.
    again = start_relay(store, tmp_path / "again.out", *args)
    assert finish(again, 60) == 0
    assert len(receiver.attempts()) == len(messages)

    start = messages[100].position
    replay = start_relay(store, tmp_path / "replay.out", *args, "--from-position", str(start))
    assert finish(replay, 60) == 0, (tmp_path / "replay.out").read_text()
    replayed = receiver.attempts()[len(messages) :]
    assert sorted(a.event["id"] for a in replayed) == sorted(
        str(m.id) for m in messages if m.position >= start
    )


def test_once_gives_up_on_a_receiver_that_stays_down_naming_it(
    store: Path, secret: tuple[str, Path], tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook?token=abc"  # nothing listens there
    out = tmp_path / "relay.out"
    started = time.monotonic()
    relay = start_relay(
        store, out, "--webhook", url, "--secret-file", str(secret[1]), "--once", "--timeout", "2"
    )
    code = finish(relay, 60)
    seconds = time.monotonic() - started
    output = out.read_text(errors="replace")
    assert code == 1, output
    last = output.strip().splitlines()[-1]
    shown = re.escape(url.replace("token=abc", "***"))
    # 2 s, or 3 on a loaded machine where the last attempt is slow to be refused
    assert re.search(f"gave up: webhook {shown} unavailable for [23] s \\(ConnectError", last), (
        output
    )
    assert "at position 0 of" in last
    assert "token=abc" not in output
    assert seconds < 2 + 20


def test_a_stop_signal_ends_the_retries_and_keeps_the_position(
    store: Path, secret: tuple[str, Path], receiver: ReceiverProcess, tmp_path: Path
) -> None:
    receiver.start(fail_every=1)  # every attempt answered 500
    out = tmp_path / "relay.out"
    relay = start_relay(
        store, out, "--webhook", receiver.url, "--secret-file", str(secret[1]), "--name", "x"
    )
    try:
        wait_for(lambda: len(receiver.attempts()) >= 8, 30, "a few attempts")
        relay.send_signal(signal.SIGINT)
        code = relay.wait(15)  # not after the retries, which would go on for ever
    finally:
        relay.kill()
        relay.wait()
    output = out.read_text(errors="replace")
    assert code == 130, output
    assert "relay 'x' interrupted by SIGINT at position 0 of" in output
    assert "unavailable: stopped" not in output
    assert stored_position(store, "x") == 0
