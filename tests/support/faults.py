"""Faults for the recovery tests: writer processes to kill, file size limits that fill
the disk under them, and what their acknowledgements promise of the store afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import text

from salesengine.store.settings import EVENTS_TABLE, store_settings
from salesengine.store.sql import sql_engine
from tests.support.fault_writer import batch_ids
from tests.support.soundness import Sound

ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 60.0


def start(
    args: Sequence[str],
    env: dict[str, str] | None = None,
    limit: int | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[str]:
    """``python ARGS`` in the repository, its output piped; with ``limit``, no file of
    the process may grow past that many bytes (tests/support/size_limited.py)."""
    limited = [] if limit is None else ["-m", "tests.support.size_limited", str(limit)]
    if limited and args[0] == "-m":
        args = args[1:]  # size_limited runs the module itself
    return subprocess.Popen(
        [sys.executable, *limited, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd or ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env or {})},
    )


def start_writer(
    url: str, first: int = 0, last: int = 10**6, limit: int | None = None
) -> subprocess.Popen[str]:
    return start(["-m", "tests.support.fault_writer", url, str(first), str(last)], limit=limit)


class Acks:
    """What a writer process said: the batches it acknowledged, and how it stopped."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []

    @property
    def acked(self) -> list[int]:
        return [int(line.split()[1]) for line in self.lines if line.startswith("ack ")]

    def wait_for(self, count: int) -> None:
        """Read until ``count`` batches are acknowledged (or the writer ends)."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + WAIT_SECONDS
        while len(self.acked) < count:
            line = self.proc.stdout.readline()
            if not line:
                return
            self.lines.append(line.strip())
            assert time.monotonic() < deadline, "the writer is too slow"

    def kill(self) -> None:
        """SIGKILL: no handler, no rollback in the process, no last words."""
        self.proc.kill()
        self.finish()

    def finish(self) -> str:
        out, err = self.proc.communicate(timeout=WAIT_SECONDS)
        self.lines += [line.strip() for line in out.splitlines()]
        return err


def assert_batches_whole(sound: Sound, acked: Sequence[int], upto: int) -> set[int]:
    """Every acknowledged batch is in the log, each command once; any other batch below
    ``upto`` is there whole or not at all. Answers the batches found."""
    found = set()
    for n in range(upto):
        ids = batch_ids(n)
        present = {i for i in ids if sound.command_ids[i]}
        assert present in (set(), ids), f"batch {n} is in the log in part: {sorted(present)}"
        assert all(sound.command_ids[i] == 1 for i in present), f"batch {n} applied twice"
        if present:
            found.add(n)
    missing = set(acked) - found
    assert not missing, f"acknowledged batches lost: {sorted(missing)}"
    # At most the batch in flight when the writer stopped is there unacknowledged.
    assert max(found, default=-1) <= max(acked, default=-1) + 1, (found, acked)
    return found


def count_events(url: str) -> int:
    """The events in the store now (0 while it has no events table)."""
    settings = store_settings(url, creating=False)
    sql = sql_engine(settings, reader=True)
    name = EVENTS_TABLE[settings.kind]
    schema = settings.env.get("POSTGRES_SCHEMA")
    qualified = f'"{schema}".{name}' if schema else name
    try:
        with sql.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {qualified}")).scalar() or 0)
    except Exception:  # not created yet, or the server is down
        return 0
    finally:
        sql.dispose()


def wait_for_events(url: str, proc: subprocess.Popen[str], at_least: int = 1) -> int:
    """Poll until the store holds ``at_least`` events (or the process has ended)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = count_events(url)
        if found >= at_least or proc.poll() is not None:
            return found
        time.sleep(0.02)
    raise AssertionError(f"no events in {url} after {WAIT_SECONDS:g} s")
