"""The read models' follower of ``salesengine serve``: ``salesengine project --follow`` in
a process of its own beside the server, started again if it fails.

One follower for the whole service, rather than a thread in each server process: it
applies events on a core of its own, so its work never waits for, or holds up, the
requests under a server process's interpreter lock, and several PostgreSQL workers do not
each poll the log for the same events."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import typer

# Seconds between the follower's polls of the log when it has nothing to apply.
POLL_SECONDS = 0.5


class ReadModelFollower:
    def __init__(self, policy_dirs: tuple[Path, ...]) -> None:
        # The store comes from SALESENGINE_DB, which `serve` has set for its workers too.
        policies = [arg for d in policy_dirs for arg in ("--policies", str(d))]
        self.argv = [
            sys.executable, "-m", "salesengine", *policies,
            "project", "--follow", "--poll", str(POLL_SECONDS),
        ]  # fmt: skip
        self._stop = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._supervise, name="follower", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _supervise(self) -> None:
        while not self._stop.is_set():
            # Its progress lines stay out of the server's output; its errors do not.
            self._process = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL)
            code = self._process.wait()
            if self._stop.is_set() or code == 0:
                # Asked to stop: by `stop`, or by the terminal's Ctrl-C, which reaches
                # the whole process group, the server's workers and this one alike.
                return
            typer.echo(
                f"salesengine: the read models' follower exited with status {code}; "
                "starting it again",
                err=True,
            )
            self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()  # it finishes the batch it is applying, then exits
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._thread.join(timeout=5)
