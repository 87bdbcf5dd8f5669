"""``salesengine relay`` as a subprocess of a test, and the position it has stored."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path


def start_relay(store: Path, out: Path, *args: str) -> subprocess.Popen[bytes]:
    """The relay of ``store`` with ``args``, its output (both streams) in ``out``."""
    env = {**os.environ, "SALESENGINE_DB": str(store), "COLUMNS": "400"}
    with out.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "salesengine", "relay", *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=store.parent,
        )


def stored_position(store: Path, name: str) -> int:
    """The position relay ``name`` has stored in a SQLite store; 0 before it stores one."""
    with contextlib.closing(sqlite3.connect(store, timeout=30)) as conn:
        try:
            row = conn.execute(
                "SELECT position FROM relay_positions WHERE name = ?", (name,)
            ).fetchone()
        except sqlite3.OperationalError:  # its table is not there yet
            return 0
    return int(row[0]) if row else 0
