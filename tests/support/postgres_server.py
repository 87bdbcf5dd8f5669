"""A private PostgreSQL server for fault tests: its own cluster on a free port, built by
the machine's ``initdb`` and stopped or crashed at will. The shared server on 5432 is
never touched.

PostgreSQL refuses to run as root, so under root (CI) the cluster belongs to the
``postgres`` account and lives in a directory of its own outside the test's (pytest's
temporary directories are private to root).
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

from tests.support.brokers import PrivateServer, ServerUnavailable, free_port

_BINDIRS = "/usr/lib/postgresql/*/bin"


def pg_binary(name: str) -> str:
    """The newest installed major version's ``name`` (initdb, postgres), else PATH's."""
    found = sorted(
        glob.glob(f"{_BINDIRS}/{name}"),
        key=lambda p: int(re.sub(r"\D", "", Path(p).parent.parent.name) or 0),
    )
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path is None:
        raise ServerUnavailable(f"{name} is not installed (no PostgreSQL server binaries)")
    return on_path


class PostgresServer(PrivateServer):
    """``postgres`` on 127.0.0.1:port over a fresh cluster (trust authentication)."""

    name = "postgres"

    def __init__(self, port: int | None = None) -> None:
        self.user = "postgres" if os.geteuid() == 0 else None
        base = Path(tempfile.mkdtemp(prefix="salesengine-pg-"))
        if self.user is not None:
            try:
                account = pwd.getpwnam(self.user)
            except KeyError:
                base.rmdir()
                raise ServerUnavailable("no 'postgres' account to run a server as") from None
            os.chown(base, account.pw_uid, account.pw_gid)
        super().__init__(pg_binary("postgres"), base, port or free_port())
        self.pgdata = base / "data"
        made = subprocess.run(
            [
                pg_binary("initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            user=self.user,
            cwd=base,
            check=False,
        )
        if made.returncode != 0:
            shutil.rmtree(base, ignore_errors=True)
            raise ServerUnavailable(f"initdb failed: {made.stderr.strip()[-500:]}")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def command(self) -> list[str]:
        return [
            self.binary,
            "-D",
            str(self.pgdata),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            # Commits are durable, as in production: a crash must not lose one.
            "-c",
            "fsync=on",
            "-c",
            "synchronous_commit=on",
        ]

    def _hello(self, s: socket.socket) -> bytes:  # noqa: ARG002 - asks through a client
        try:
            with psycopg.connect(self.url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return b""  # still starting up, or recovering after a crash
        return b"ready"

    def greets(self, first: bytes) -> bool:
        return first == b"ready"

    def crash(self) -> None:
        """Immediate shutdown (SIGQUIT): clients are cut off, nothing is flushed beyond
        what was committed, and the next start recovers from the write-ahead log."""
        self._signal(signal.SIGQUIT)

    def stop(self) -> None:
        """Fast shutdown (SIGINT): open transactions are rolled back, clients cut off."""
        self._signal(signal.SIGINT)

    def _signal(self, signum: int) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signum)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.process = None

    def restart(self, *, crash: bool = False) -> None:
        if crash:
            self.crash()
        else:
            self.stop()
        self.start()

    def close(self) -> None:
        self.crash()  # its backends exit with it, unlike after a SIGKILL
        shutil.rmtree(self.data_dir, ignore_errors=True)
