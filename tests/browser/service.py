"""``salesengine serve`` as a subprocess on a store of its own, the tokens made for it
with ``salesengine token create``, and the API and the command line read beside the page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.brokers import free_port

# The console script of this environment (.venv/bin/salesengine), as a user runs it.
SALESENGINE = str(Path(sys.executable).with_name("salesengine"))
START_SECONDS = 30.0


def salesengine(db: Path, *args: str, actor: str = "browser-test") -> str:
    """``salesengine --db DB ARGS``; its standard output, or the test fails with its errors."""
    proc = subprocess.run(
        [SALESENGINE, "--db", str(db), "--by", actor, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"salesengine {' '.join(args)} failed: {proc.stderr or proc.stdout}")
    return proc.stdout


def cli_json(db: Path, *args: str) -> Any:
    return json.loads(salesengine(db, *args, "--json"))


def make_token(db: Path, name: str, role: str, *scope: str) -> str:
    """A new token's text (``token create`` prints it alone on standard output)."""
    return salesengine(db, "token", "create", "--name", name, "--role", role, *scope).strip()


@dataclass
class Server:
    """One ``salesengine serve`` on 127.0.0.1, its output in ``log``."""

    db: Path
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        listen = ("--host", "127.0.0.1", "--port", str(self.port))
        with self.log.open("wb") as sink:
            self.process = subprocess.Popen(
                [SALESENGINE, "--db", str(self.db), "serve", *listen],
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=self.db.parent,
            )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"salesengine serve exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"serve did not answer in {START_SECONDS}s: {self.log.read_text()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def api(self, token: str, path: str, **params: str) -> Any:
        """GET /api/v1/PATH with the token; the JSON body of a 200, or the test fails."""
        response = httpx.get(
            f"{self.url}/api/v1{path}",
            params={k: v for k, v in params.items() if v},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30.0,
        )
        assert response.status_code == 200, f"GET {path} {params}: {response.text}"
        return response.json()

    def caught_up(self, token: str, timeout: float = 20.0) -> int:
        """Wait until the read models have applied the whole log; its position."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.api(token, "/status")
            if all(m["behind"] == 0 for m in status["read_models"]):
                return int(status["log_position"])
            if time.monotonic() > deadline:
                raise AssertionError(f"read models still behind after {timeout}s: {status}")
            time.sleep(0.2)
