"""Private broker servers for fault tests: each on its own free port, never the shared one.

A server can be stopped and started again on the same port and data directory, so what
it persisted (a JetStream stream, a Redis append-only file) survives the restart, as it
would for a broker restarted in production.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

NATS_SERVER = "/usr/sbin/nats-server"
REDIS_SERVER = "/usr/bin/redis-server"
START_SECONDS = 30.0  # generous: a loaded machine recovering a JetStream store is slow
STOP_SECONDS = 15.0


class ServerUnavailable(Exception):
    """The server binary is missing, or the server did not come up."""


# Below Linux's ephemeral range (32768-60999): the kernel never hands these out to an
# outgoing connection, which could otherwise take a port between the pick and the bind,
# or while a test has its server down before starting it again on the same port.
PORTS = range(20_000, 32_768)
_given: set[int] = set()  # never handed out twice: a test may pick two before binding either
_pick = random.Random()  # not the global one, which hypothesis seeds during its tests


def free_port() -> int:
    """A port nothing listens on now, outside the kernel's range for ephemeral ports."""
    for port in _pick.sample(PORTS, 200):
        if port in _given:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _given.add(port)
            return port
    raise ServerUnavailable(f"no free port among 200 tried in {PORTS.start}-{PORTS.stop - 1}")


def find_binary(preferred: str) -> str:
    found = preferred if os.access(preferred, os.X_OK) else shutil.which(Path(preferred).name)
    if found is None:
        raise ServerUnavailable(f"{Path(preferred).name} is not installed")
    return found


class PrivateServer:
    """One broker process on 127.0.0.1:port, restartable, killed at the latest on close."""

    name = "server"
    user: str | None = None  # the account the server runs as (None: this process's)

    def __init__(self, binary: str, data_dir: Path, port: int | None = None) -> None:
        self.binary = find_binary(binary)
        self.data_dir = data_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self) -> list[str]:
        raise NotImplementedError

    def greets(self, first: bytes) -> bool:
        """Whether the first bytes a client reads show a server ready for it."""
        raise NotImplementedError

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} on port {self.port} is already running")
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                user=self.user,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise

    def stop(self) -> None:
        """SIGTERM and wait: the server shuts down as an operator would have it."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.process = None

    def kill(self) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
            process.wait()
        self.process = None

    def close(self) -> None:
        self.kill()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        last: object = "no attempt"
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise ServerUnavailable(
                    f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.settimeout(2)
                    first = self._hello(s)
                if self.greets(first):
                    return
                last = first
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise ServerUnavailable(
            f"{self.name} on port {self.port} not ready in {START_SECONDS:g} s ({last}):\n"
            f"{self.log_tail()}"
        )

    def _hello(self, s: socket.socket) -> bytes:
        return s.recv(4096)


class NatsServer(PrivateServer):
    """nats-server with JetStream, its store under ``data_dir``."""

    name = "nats-server"

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        super().__init__(NATS_SERVER, data_dir, port)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        store = self.data_dir / "jetstream"
        return [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(store)]

    def greets(self, first: bytes) -> bool:
        # The server sends INFO on connect; it does so once JetStream has recovered.
        return first.startswith(b"INFO ") and b'"jetstream":true' in first


class RedisServer(PrivateServer):
    """redis-server with an append-only file in ``data_dir`` and no snapshots."""

    name = "redis-server"

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        super().__init__(REDIS_SERVER, data_dir, port)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            self.binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",  # an acknowledged XADD is on disk before a restart
            "--dir",
            str(self.data_dir),
        ]

    def _hello(self, s: socket.socket) -> bytes:
        s.sendall(b"PING\r\n")
        return s.recv(4096)

    def greets(self, first: bytes) -> bool:
        # Loading the append-only file answers -LOADING; ready answers +PONG.
        return first.startswith(b"+PONG")


def wait_for(condition: Callable[[], bool], seconds: float, what: str, every: float = 0.05) -> None:
    """Poll until ``condition`` holds; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")
        time.sleep(every)
