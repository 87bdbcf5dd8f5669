"""A write decided again against fresh state while a concurrent writer keeps changing
its stream: the loop accounts and quotas share (deals have theirs in ``engine.py``,
which also honours an expected version)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from salesengine.application.batch import BACKOFF_CAP_SECONDS, WRITE_RETRIES
from salesengine.domain.errors import ConcurrencyConflict

R = TypeVar("R")


def retry_on_conflict(once: Callable[[], R], changing: str) -> R:
    """``once()``, again with a jittered backoff each time it raises
    ``ConcurrencyConflict``, up to ``WRITE_RETRIES`` times; ``changing`` names what kept
    changing in the refusal that ends it."""
    for attempt in range(WRITE_RETRIES):
        if attempt:
            time.sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, 0.002 * 2**attempt)))
        try:
            return once()
        except ConcurrencyConflict:
            continue
    raise ConcurrencyConflict(f"{changing} kept changing under {WRITE_RETRIES} attempts; try again")
