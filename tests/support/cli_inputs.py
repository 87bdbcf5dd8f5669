"""Inputs for the command-line tests: histories in the recent past (the command line
records at the real clock, so what it is given must have happened already)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.cli_runner import write_jsonl

NOW = datetime.now(UTC).replace(microsecond=0)
T = NOW - timedelta(days=40)
OPENING = {
    "key_people_known": True,
    "org_structure_confirmed": True,
    "need_determined": True,
    "visit_arranged": True,
}


def iso(days: float) -> str:
    return (T + timedelta(days=days)).isoformat()


def pipeline(tmp_path: Path) -> Path:
    """Two five-level deals: one advances, one is lost; an amount is corrected later."""
    return write_jsonl(
        tmp_path / "pipeline.jsonl",
        [
            {"cmd": "open", "deal": "A", "policy": "five-level", "at": iso(0), "owner": "li",
             "team": "north", "amount": "1000", "facts": OPENING},
            {"cmd": "open", "deal": "B", "policy": "five-level", "at": iso(1), "owner": "wang",
             "team": "east", "amount": "600000", "facts": OPENING},
            *[
                {"cmd": "fact", "deal": "A", "name": name, "at": iso(2)}
                for name in ("decision_makers_identified", "key_needs_confirmed",
                             "meetings_recorded")
            ],
            {"cmd": "advance", "deal": "A", "to": "contacted", "at": iso(3)},
            {"cmd": "lost", "deal": "B", "reason": "price", "at": iso(4)},
        ],
    )  # fmt: skip
