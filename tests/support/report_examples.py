"""A hand-built pipeline for the window reports' worked examples (five-level deals)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from tests.support.clock import T0
from tests.support.commands import FIVE_LEVEL_OPENING
from tests.support.histories import Built, Step, built

CONTACTED = ["decision_makers_identified", "key_needs_confirmed", "meetings_recorded"]


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def opening(deal: str, at: float, owner: str = "li") -> Step:
    return Step(
        1,
        {
            "cmd": "open",
            "deal": deal,
            "policy": "five-level",
            "at": day(at),
            "owner": owner,
            "facts": FIVE_LEVEL_OPENING,
        },
    )


def to_contacted(deal: str, at: float) -> list[Step]:
    facts = [Step(1, {"cmd": "fact", "deal": deal, "name": n, "at": day(at)}) for n in CONTACTED]
    return [*facts, Step(1, {"cmd": "advance", "deal": deal, "to": "contacted", "at": day(at)})]


def step(command: str, deal: str, at: float, **fields: Any) -> Step:
    return Step(1, {"cmd": command, "deal": deal, "at": day(at), **fields})


# A advances on day 2 and is won on day 10; B is lost on day 5; C stays; D opens on day
# 20; E is lost on day 6 and reopened on day 8.
PIPELINE = [
    opening("A", 0),
    opening("B", 1, owner="wang"),
    opening("C", 3),
    opening("E", 4),
    *to_contacted("A", 2),
    step("lost", "B", 5, reason="price"),
    step("lost", "E", 6, reason="timing"),
    step("reopen", "E", 8, to="identified", reason="budget found"),
    step("won", "A", 10),
    opening("D", 20),
]


@contextmanager
def store(tmp_path: Path, steps: list[Step]) -> Iterator[tuple[Built, Connection]]:
    with built(str(tmp_path / "s.db"), steps) as b, b.sql.connect() as conn:
        assert len(b.recorded) == len(steps), "every command of the example applies"
        yield b, conn
