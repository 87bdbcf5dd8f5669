"""The funnel points after the last sealed block, kept on a pooled connection.

Every funnel query adds up the points after the last sealed block (up to a block's
worth: 20,000) and so does the earliest recorded instant. Those points only grow until
the next block is sealed, so a connection keeps them (reports/connection_memo.py) and
reads only the points added since its last call, instead of scanning them all again on
every request of a service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, select

from salesengine.projections.funnel_points import blocks, points
from salesengine.reports.connection_memo import memo

_COLUMNS = ("seq", "e", "r", "key_id", "dn", "da")


@dataclass(frozen=True, slots=True)
class OpenPoints:
    """The points with ``seq > after`` (the last sealed block's end) up to ``seen``, one
    array per column of ``funnel_points``."""

    after: int
    seen: int
    columns: NDArray[np.int64]  # [column, point], columns in _COLUMNS' order

    @classmethod
    def empty(cls, after: int) -> OpenPoints:
        return cls(after, after, np.zeros((len(_COLUMNS), 0), dtype=np.int64))

    def extended(self, rows: Sequence[Any]) -> OpenPoints:
        more = np.array(rows, dtype=np.int64).T
        return OpenPoints(self.after, int(more[0, -1]), np.concatenate([self.columns, more], 1))

    def sums(self, *, beyond: int, t: int, k: int | None) -> dict[int, tuple[int, int]]:
        """(deals, amount units) per key id over the points after ``beyond`` effective by
        T and recorded by K."""
        seq, e, r, key_id, dn, da = self.columns
        chosen = (seq > beyond) & (e <= t)
        if k is not None:
            chosen &= r <= k
        if not chosen.any():
            return {}
        ids = key_id[chosen]
        size = int(ids.max()) + 1
        n = np.zeros(size, dtype=np.int64)
        units = np.zeros(size, dtype=np.int64)
        np.add.at(n, ids, dn[chosen])  # exact integer sums (bincount would use floats)
        np.add.at(units, ids, da[chosen])
        return {int(i): (int(n[i]), int(units[i])) for i in np.unique(ids)}

    def least_recorded(self) -> int | None:
        return int(self.columns[2].min()) if self.columns.shape[1] else None


def open_points(conn: Connection) -> OpenPoints:
    """The points after the last sealed block, as of this call: those the connection
    kept, and those added since. A newly sealed block (or a rebuilt read model, which
    starts its blocks again) starts them afresh."""
    b = blocks.c
    block = conn.execute(
        select(b.last_seq, b.max_r, b.min_r).order_by(b.block.desc()).limit(1)
    ).first()
    last = 0 if block is None else int(block.last_seq)
    kept = memo(conn, "open_points")
    found: OpenPoints | None = kept.get("points")
    # Kept under the last sealed block it follows, which a rebuilt read model (whose
    # points may differ) seals again with other recorded times.
    identity = None if block is None else tuple(block)
    if found is None or kept.get("block") != identity:
        found = OpenPoints.empty(last)
        kept["block"] = identity
    p = points.c
    rows = conn.execute(
        select(*(p[name] for name in _COLUMNS)).where(p.seq > found.seen).order_by(p.seq)
    ).all()
    if rows:
        found = found.extended(rows)
    kept["points"] = found
    return found
