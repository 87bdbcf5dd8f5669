"""Concurrent writers as separate processes: overlapping imports land exactly once."""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from pathlib import Path

from salesengine.application.engine import SalesEngine
from tests.support.cli_runner import run_together
from tests.support.clock import T0
from tests.support.stores import StoreFactory

DEALS = 40


def write_file(path: Path, offset: int) -> None:
    """Every file opens all deals and logs visits; files overlap in half their lines."""
    lines = []
    for n in range(DEALS):
        lines.append(
            {
                "cmd": "open",
                "deal": f"P-{n}",
                "policy": "funnel-list",
                "id": f"open-{n}",
                "at": T0.isoformat(),
            }
        )
    for n in range(DEALS):
        for v in range(offset, offset + 10):
            lines.append(
                {
                    "cmd": "visit",
                    "deal": f"P-{n}",
                    "id": f"visit-{n}-{v}",
                    "at": (T0 + timedelta(hours=v)).isoformat(),
                }
            )
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")


def test_three_importing_processes_store_each_command_exactly_once(
    store_url: str, make_engine: StoreFactory, tmp_path: Path
) -> None:
    files = []
    for i, offset in enumerate((0, 5, 10)):
        path = tmp_path / f"part-{i}.jsonl"
        write_file(path, offset)
        files.append(path)
    env = {**os.environ, "SALESENGINE_DB": store_url}
    run_together(
        [
            [sys.executable, "-m", "salesengine", "import", str(f), "--batch-size", "7"]
            for f in files
        ],
        env,
    )
    engine: SalesEngine = make_engine()
    for n in range(DEALS):
        deal = engine.load(f"P-{n}")
        # visits 0..19 across the three overlapping files, each exactly once
        assert deal.state.visits == 20
        assert deal.version == 21
    # Count rows, not the highest id: PostgreSQL ids skip values rolled-back inserts took.
    stored = engine.recorder.select_notifications(start=1, limit=10 * DEALS * 21)
    assert len(stored) == DEALS * 21
    assert len({(n.originator_id, n.originator_version) for n in stored}) == DEALS * 21
