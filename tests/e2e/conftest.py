"""Run the real ``salesengine`` command in a subprocess, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


CLI = Callable[..., Run]


@pytest.fixture
def cli(tmp_path: Path) -> CLI:
    db = tmp_path / "store.db"

    def run(*args: str, db_url: str | None = None, env: dict[str, str] | None = None) -> Run:
        full_env = {
            **os.environ,
            "SALESENGINE_DB": db_url or str(db),
            "COLUMNS": "200",
            "SALESENGINE_ACTOR": "auditor-test",
            **(env or {}),
        }
        proc = subprocess.run(
            [sys.executable, "-m", "salesengine", *args],
            check=False,
            capture_output=True,
            text=True,
            encoding="utf-8",
            env=full_env,
            timeout=120,
            cwd=tmp_path,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    return run


def write_jsonl(path: Path, lines: list[Any]) -> Path:
    text = "\n".join(
        line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in lines
    )
    path.write_text(text + "\n", encoding="utf-8")
    return path
