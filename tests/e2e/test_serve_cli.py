"""``salesengine serve`` as a user starts it: refusals before it listens, and several
workers on one PostgreSQL store that write, read and keep the read models current."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.brokers import free_port, wait_for
from tests.support.cli_runner import salesengine
from tests.support.commands import FIVE_LEVEL_OPENING
from tests.support.services import PG_URL

SALESENGINE = str(Path(sys.executable).with_name("salesengine"))


def test_an_sqlite_store_is_served_by_one_process(tmp_path: Path) -> None:
    db = tmp_path / "events.db"
    made = salesengine("--db", str(db), "token", "create", "--name", "a", "--role", "admin", env={})
    assert made.returncode == 0, made.stderr  # the store exists
    run = salesengine("--db", str(db), "serve", "--workers", "2", env={})
    assert run.returncode == 2
    assert "--workers" in run.stderr and "SQLite" in run.stderr


def test_a_missing_store_is_named_before_anything_listens(tmp_path: Path) -> None:
    run = salesengine(
        "--db", str(tmp_path / "typo.db"), "serve", "--port", str(free_port()), env={}
    )
    assert run.returncode == 2
    assert "typo.db" in run.stderr
    assert not (tmp_path / "typo.db").exists()


@pytest.mark.postgres
def test_several_workers_serve_one_postgresql_store(pg_schema: str, tmp_path: Path) -> None:
    db = f"{PG_URL}?schema={pg_schema}"
    made = salesengine("--db", db, "token", "create", "--name", "root", "--role", "admin", env={})
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [SALESENGINE, "--db", db, "serve", "--port", str(port), "--workers", "2"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ},
        )
    url = f"http://127.0.0.1:{port}/api/v1"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/status", headers=headers, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        with httpx.Client(headers=headers, timeout=10) as client:
            for n in range(20):  # separate connections land on either worker
                opened = {"cmd": "open", "deal": f"D-{n}", "policy": "five-level",
                          "owner": "ana", "team": "north", "facts": FIVE_LEVEL_OPENING}  # fmt: skip
                answer = httpx.post(f"{url}/commands", json=opened, headers=headers, timeout=10)
                assert answer.status_code == 200, answer.text
            deadline = time.monotonic() + 20
            while client.get(f"{url}/status").json()["behind"] != 0:
                assert time.monotonic() < deadline, "the read models did not catch up"
                time.sleep(0.2)
            funnel = client.get(f"{url}/reports/funnel").json()
            assert sum(r["deals"] for r in funnel["rows"]) == 20

        # A worker says it started once its app is built, which can come after the other
        # worker has answered everything above.
        def started() -> set[str]:
            return set(re.findall(r"Started server process \[(\d+)\]", log.read_text()))

        wait_for(lambda: len(started()) >= 2, 60, "both workers' start lines")
        assert len(started()) == 2, log.read_text()
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0, log.read_text()
