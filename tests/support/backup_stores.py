"""Stores for backup and restore tests: a source and a target of one kind, and how to
write to them and read their logs back (tests/integration/test_backup*.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from salesengine.bootstrap import build_engine
from salesengine.store.settings import StoreSettings, store_settings
from tests.support.faults import Acks, start_writer


class Stores(NamedTuple):
    source: str
    target: str
    file: Path  # where the backup goes


def settings(url: str) -> StoreSettings:
    return store_settings(url, creating=False)


def logged_rows(url: str, stop: int | None = None) -> list[tuple[Any, ...]]:
    """The log as stored, up to position ``stop``: every field of every event."""
    engine = build_engine(url, actor="checker", create=False)
    try:
        found = engine.recorder.select_notifications(1, limit=10**9, stop=stop)
        return [
            (n.id, n.originator_id, n.originator_version, n.topic, bytes(n.state)) for n in found
        ]
    finally:
        engine.close()


def write_some(url: str, batches: int = 12) -> list[int]:
    acks = Acks(start_writer(url, 0, batches))
    acks.finish()
    assert acks.proc.returncode == 0, acks.lines
    return acks.acked
