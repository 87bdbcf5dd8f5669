"""Garbage collection during an import, which allocates much and frees little."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

# The deal cache keeps tens of thousands of objects alive, and with the default
# thresholds the collector rescans all of them every few thousand commands; that took
# a quarter of the import. Nothing an import allocates forms cycles it must reclaim
# early, so during one the young generation is collected far less often.
BULK_GC_THRESHOLD = 100_000


@contextmanager
def bulk_allocation() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(max(saved[0], BULK_GC_THRESHOLD), *saved[1:])
    try:
        yield
    finally:
        gc.set_threshold(*saved)
