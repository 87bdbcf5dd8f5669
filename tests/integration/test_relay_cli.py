"""``salesengine relay`` as a process: it gives up on a broker that stays down, and an
interrupted relay says so, with how far it got, and exits 130 or 143."""

from __future__ import annotations

import contextlib
import re
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from tests.support.brokers import NatsServer, free_port, wait_for
from tests.support.clock import T0
from tests.support.commands import FIVE_LEVEL_OPENING, cmd
from tests.support.relay_process import start_relay, stored_position

DOWN_SCHEMES = {
    "nats": "nats://127.0.0.1:{port}",
    "redis": "redis://127.0.0.1:{port}",
    "rabbit": "amqp://guest:guest@127.0.0.1:{port}/",
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small store: 30 deals, a few events each."""
    from salesengine.bootstrap import build_engine

    path = tmp_path_factory.mktemp("cli") / "store.db"
    engine = build_engine(str(path), actor="tester")
    try:
        for n in range(30):
            key = f"CLI-{n}"
            engine.execute(
                cmd(cmd="open", deal=key, policy="five-level", at=T0, facts=FIVE_LEVEL_OPENING)
            )
            engine.execute(cmd(cmd="visit", deal=key, at=T0, effective=True))
            engine.execute(cmd(cmd="amount", deal=key, at=T0, amount="10", currency="EUR"))
    finally:
        engine.close()
    return path


def head(store: Path) -> int:
    with contextlib.closing(sqlite3.connect(store, timeout=30)) as conn:
        return int(conn.execute("SELECT max(rowid) FROM stored_events").fetchone()[0])


@pytest.mark.parametrize("kind", sorted(DOWN_SCHEMES))
def test_once_gives_up_on_a_broker_that_stays_down_naming_it(
    kind: str, store: Path, tmp_path: Path
) -> None:
    broker = DOWN_SCHEMES[kind].format(port=free_port())  # nothing listens there
    out = tmp_path / "relay.out"
    started = time.monotonic()
    relay = start_relay(store, out, "--broker", broker, "--once", "--timeout", "2")
    try:
        code = relay.wait(60)
    finally:
        relay.kill()
        relay.wait()
    seconds = time.monotonic() - started
    output = out.read_text(errors="replace")
    assert code == 1, output
    shown = broker.replace("guest:guest@", "guest:***@")
    last = output.strip().splitlines()[-1]
    # 2 s, or 3 on a loaded machine where the last attempt is slow to fail
    assert re.search(f"gave up: broker {re.escape(shown)} unavailable for [23] s \\(", last), output
    assert f"at position 0 of {head(store):,} ({head(store):,} behind), 0 published" in last
    assert seconds < 2 + 20, f"gave up after {seconds:.1f} s"  # start-up and one attempt
    assert stored_position(store, f"{kind}:127.0.0.1:{broker.rsplit(':', 1)[1].strip('/')}") == 0


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_relay_exits_non_zero_and_says_how_far_it_got(
    stop: signal.Signals, store: Path, tmp_path: Path
) -> None:
    # A relay following a broker that is down: it retries until it is stopped.
    out = tmp_path / "relay.out"
    relay = start_relay(store, out, "--broker", f"nats://127.0.0.1:{free_port()}", "--name", "x")
    try:
        wait_for(lambda: "from position" in out.read_text(errors="replace"), 30, "the relay")
        time.sleep(0.5)  # into its first connect attempt
        relay.send_signal(stop)
        code = relay.wait(15)  # well before the connect attempt (10 s) would end
    finally:
        relay.kill()
        relay.wait()
    output = out.read_text(errors="replace")
    assert code == 128 + stop, output
    behind = head(store)
    assert (
        f"relay 'x' interrupted by {stop.name} at position 0 of {behind:,} ({behind:,} behind)"
        in output
    )


def test_a_relay_stopped_mid_stream_reports_the_position_it_stored(
    store: Path, nats: NatsServer, tmp_path: Path
) -> None:
    out = tmp_path / "relay.out"
    args = ("--broker", nats.url, "--name", "mid", "--batch-size", "5", "--from-position", "1")
    relay = start_relay(store, out, *args)
    try:
        wait_for(lambda: stored_position(store, "mid") > 0, 30, "a first page acknowledged")
        relay.send_signal(signal.SIGINT)
        code = relay.wait(30)
    finally:
        relay.kill()
        relay.wait()
    output = out.read_text(errors="replace")
    assert code == 130, output
    found = re.search(r"interrupted by SIGINT at position ([\d,]+) of ([\d,]+)", output)
    assert found is not None, output
    assert int(found[1].replace(",", "")) == stored_position(store, "mid")
    assert int(found[2].replace(",", "")) == head(store)

    # Caught up and then stopped: nothing behind, and still a stop by a signal.
    again_out = tmp_path / "again.out"
    relay = start_relay(store, again_out, "--broker", nats.url, "--name", "mid")
    try:
        # Once it says where it starts it takes stop signals as a stop, however early.
        wait_for(lambda: "from position" in again_out.read_text(errors="replace"), 30, "it")
        wait_for(lambda: stored_position(store, "mid") == head(store), 30, "the log head")
        relay.send_signal(signal.SIGTERM)
        code = relay.wait(30)
    finally:
        relay.kill()
        relay.wait()
    again = again_out.read_text(errors="replace")
    assert code == 143, again
    assert f"of {head(store):,} (0 behind)" in again
