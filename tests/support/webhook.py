"""A webhook receiver in its own process, for the tests, and what it logged."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.brokers import free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Attempt:
    at: float
    status: int  # 0: stalled past the relay's timeout; -1: the receiver died on it
    headers: dict[str, str]
    body: str

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class ReceiverProcess:
    """tests/support/webhook_receiver.py on a port of its own, restartable."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.log = directory / "received.jsonl"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/salesengine"

    def start(self, **plan: Any) -> None:
        plan_file = self.directory / "plan.json"
        plan_file.write_text(json.dumps(plan))
        with (self.directory / "receiver.err").open("ab") as errors:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.support.webhook_receiver", "--port",
                 str(self.port), "--log", str(self.log), "--plan", str(plan_file)],
                cwd=ROOT,
                stderr=errors,
            )  # fmt: skip
        wait_for(self._listening, 30, "the receiver")

    def _listening(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the receiver exited with {self.process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 1):
            return True
        return False

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def attempts(self) -> list[Attempt]:
        if not self.log.exists():
            return []
        return [Attempt(**json.loads(line)) for line in self.log.read_text().splitlines()]


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[ReceiverProcess]:
    directory = tmp_path / "receiver"
    directory.mkdir()
    found = ReceiverProcess(directory)
    try:
        yield found
    finally:
        found.close()
