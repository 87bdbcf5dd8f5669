"""Histories with more visits by several reps, and instants that fall on the reports'
day-count boundaries (week starts, contact cadences, stage limits, grade limits)."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import strategies as st

from tests.support.histories import Built, Step, histories, instants

REPS = ("Li Wei", "王芳", "anna")
# Offsets from an event's effective time: around it, and just past 7, 14, 30, 31, 45,
# 60 and 90 days, where cadences, stage limits and grades change.
OFFSETS = tuple(timedelta(minutes=m) for m in (-1, 0, 1, 600, 4 * 1440 + 1)) + tuple(
    timedelta(days=d, minutes=m) for d in (7, 14, 30, 31, 45, 60, 90) for m in (-1, 1)
)


@st.composite
def busy_histories(draw: st.DrawFn) -> list[Step]:
    """Random histories with extra visits, each logged by one of several reps."""
    steps: list[Step] = []
    for drawn in draw(histories()):
        c = drawn.command
        if c["cmd"] == "visit":
            c = {**c, "by": draw(st.sampled_from(REPS))}
        steps.append(Step(drawn.tick_minutes, c))
        for _ in range(draw(st.integers(0, 2))):
            at = c["at"] + timedelta(hours=draw(st.integers(-100, 300)))
            visit = {
                "cmd": "visit",
                "deal": c["deal"],
                "at": at,
                "by": draw(st.sampled_from(REPS)),
                "effective": draw(st.booleans()),
            }
            steps.append(Step(draw(st.sampled_from([0, 1, 60, 1440])), visit))
    return steps


def moments(data: st.DataObject, b: Built) -> tuple[datetime, datetime | None]:
    """(T, K): T near an effective time or a boundary's distance after it."""
    t, k = instants(data, b)
    return t + data.draw(st.sampled_from(OFFSETS)), k
