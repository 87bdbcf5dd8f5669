"""A five-level history in the 90 days before a planned period that started 20 days ago,
for the command-line tests of ``plan``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from salesengine.policies.catalog import PolicyCatalog
from tests.support.cli_runner import write_jsonl

# The planned period starts 20 days ago and lasts 90 days; the previous one is the 90
# days before it, where the history below lies (all of it in the past).
START = (datetime.now(UTC) - timedelta(days=20)).date()
PERIOD = f"{START.isoformat()}..{(START + timedelta(days=90)).isoformat()}"
BEFORE = datetime(START.year, START.month, START.day, 9, tzinfo=UTC) - timedelta(days=90)
FIVE_LEVEL = PolicyCatalog().get("five-level")
FACTS = {c.key: True for s in FIVE_LEVEL.stages for c in s.criteria if c.source == "fact"}
STAGES = FIVE_LEVEL.stage_keys


def day(n: float) -> str:
    return (BEFORE + timedelta(days=n)).isoformat()


def history(tmp_path: Path) -> Path:
    """A goes the whole way (400k), B is lost at identified, C opens in the new period."""
    lines: list[Any] = [
        {"cmd": "open", "deal": "A", "policy": "five-level", "at": day(1), "amount": "400000",
         "facts": FACTS},
        {"cmd": "open", "deal": "B", "policy": "five-level", "at": day(2), "amount": "900000",
         "facts": FACTS},
        {"cmd": "lost", "deal": "B", "at": day(12)},
        {"cmd": "open", "deal": "C", "policy": "five-level", "at": day(92), "amount": "250000",
         "facts": FACTS},
    ]  # fmt: skip
    for n, stage in enumerate(STAGES[1:], 1):
        lines.append({"cmd": "advance", "deal": "A", "to": stage, "at": day(1 + 6 * n)})
    lines.append({"cmd": "won", "deal": "A", "at": day(1 + 6 * len(STAGES))})
    return write_jsonl(tmp_path / "plan.jsonl", lines)
