"""The service's read-model follower outlives a failed catch-up: it says so and tries
again, rather than leaving every report stale for good."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from salesengine.bootstrap import build_engine
from salesengine.service.context import ServiceContext, ServiceSettings


def test_the_follower_carries_on_after_a_failed_catch_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = str(tmp_path / "events.db")
    build_engine(db).close()
    context = ServiceContext.open(ServiceSettings(db=db, poll_seconds=0.01))
    calls: list[int] = []
    again = threading.Event()

    def follow(**_: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database is locked")  # what any driver error looks like
        again.set()
        context._stop.wait()

    context.runner.follow = follow  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="salesengine.service"):
        context.start()
        try:
            assert again.wait(10), "the follower did not try again"
        finally:
            context.stop()
    assert len(calls) == 2
    assert "catching up failed" in caplog.text
