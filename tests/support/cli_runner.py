"""The real ``salesengine`` command in a fresh interpreter, as a user runs it, and the
JSON Lines files the command-line tests feed it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def salesengine(
    *args: str, env: Mapping[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``salesengine ARGS`` with ``env`` over this process's environment; lines are
    wide, so no message is wrapped. Standard input is empty, never the terminal the
    tests may run in: a command that would ask there is run as in a script."""
    return subprocess.run(
        [sys.executable, "-m", "salesengine", *args],
        check=False,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, "COLUMNS": "200", **env},
        timeout=120,
        cwd=cwd,
    )


def run_together(commands: list[list[str]], env: Mapping[str, str]) -> list[str]:
    """Each command in a process of its own, all at once (``env`` is their whole
    environment); waits for them all and holds each to exit 0. Their outputs."""
    procs = [
        subprocess.Popen(
            command, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for command in commands
    ]
    return finish_together(procs)


def finish_together(procs: list[subprocess.Popen[str]]) -> list[str]:
    """Wait for processes started together; each must exit 0. Their outputs."""
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    return [out for out, _ in results]


def run_cli(*args: str, db: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``salesengine ARGS`` on the store at ``db``."""
    return salesengine(*args, env={"SALESENGINE_DB": str(db), "SALESENGINE_ACTOR": "t"}, cwd=cwd)


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


# The ``cli`` fixture (tests/e2e/conftest.py): salesengine ARGS on the test's own store.
CLI = Callable[..., Run]


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    text = "\n".join(
        line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in lines
    )
    path.write_text(text + "\n", encoding="utf-8")
    return path
