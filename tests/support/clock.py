"""The instant the test histories start at, and a recording clock the test moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    """The engine's recording clock, moved by the test."""

    def __init__(self, now: datetime = T0 + timedelta(days=60)) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def tick(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now
