"""What the application needs from its adapters, as interfaces: the store's indexes.

The composition root (``salesengine.bootstrap``) wires the concrete ones; the
application imports none of them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol
from uuid import UUID


class ExistenceIndex(Protocol):
    """Tells which of many deals exist, in one round trip."""

    def __call__(self, ids: Collection[UUID]) -> set[UUID]: ...


class PositionIndex(Protocol):
    """Finds the global (notification log) position of each event of one deal."""

    def __call__(self, originator_id: UUID) -> Mapping[int, int]: ...
