"""One import worker's share of a source file, and where the workers meet."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from salesengine.importing.common.items import SourceItem


@dataclass(frozen=True, slots=True)
class Share:
    """One worker's part of a source's deals: ``part`` of ``parts``. ``owns`` chooses by
    a stable hash of the deal's name in the source, so every run splits a file the same
    way; a reader may split by place in the file instead (XES, ``xes.read_shared``)."""

    part: int
    parts: int

    def owns(self, name: str) -> bool:
        return zlib.crc32(name.encode("utf-8", "surrogatepass")) % self.parts == self.part


# Where import workers meet: each gives a value and, once all have, gets the verdict on
# all of them that the reader's ``agree`` gives (see ``workers.run_workers``).
Meet = Callable[[Any], Any]


def _same_row(row: int) -> int:
    return row


@dataclass(frozen=True, slots=True)
class SharedRead:
    """One worker's share of a source: its items, how far a row of the share is through
    the whole file, in rows (for the progress of the slowest worker), and how the file
    was shared: by deal name (``Share.owns``) or by place."""

    items: Iterator[SourceItem]
    position: Callable[[int], int] = _same_row
    by: Literal["name", "place"] = "name"
