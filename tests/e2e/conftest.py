"""Run the real ``salesengine`` command in a subprocess, as a user would."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli_runner import CLI, Run, salesengine


@pytest.fixture
def cli(tmp_path: Path) -> CLI:
    db = tmp_path / "store.db"

    def run(*args: str, db_url: str | None = None, env: dict[str, str] | None = None) -> Run:
        full_env = {
            "SALESENGINE_DB": db_url or str(db),
            "SALESENGINE_ACTOR": "auditor-test",
            **(env or {}),
        }
        proc = salesengine(*args, env=full_env, cwd=tmp_path)
        return Run(proc.returncode, proc.stdout, proc.stderr)

    return run
