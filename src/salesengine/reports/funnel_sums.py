"""The funnel from the funnel points: one sealed block's sums plus two small strips.

See projections/funnel_points.py. For (T, K): take the last sealed block whose points
were all recorded by K, sum its per-day totals for the days before T's day, then add
the points of that prefix effective on T's day up to T, and the later points recorded
by K and effective by T.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, and_, func, select

from salesengine.projections.base import to_us
from salesengine.projections.funnel_points import DAY_US, BlockSums, blocks, keys, points
from salesengine.reports.connection_memo import memo

# A block's row but its sums: which block, and the shape of its sums.
_BLOCK_HEAD = tuple(
    blocks.c[name]
    for name in ("block", "last_seq", "max_r", "min_r", "first_day", "days", "n_keys")
)
_KEPT_BLOCKS = 4  # per connection: a few K land on older blocks, most on the last


def funnel_sums(
    conn: Connection, at: datetime, known_at: datetime | None
) -> dict[tuple[str, str, str | None, str], tuple[int, int]]:
    """(deals, amount units) per (policy, stage, currency or None, policy version) at T
    known at K."""
    t = to_us(at)
    k = None if known_at is None else to_us(known_at)
    chosen = select(*_BLOCK_HEAD)
    if k is not None:
        chosen = chosen.where(blocks.c.max_r <= k)
    row = conn.execute(chosen.order_by(blocks.c.block.desc()).limit(1)).first()
    totals: dict[int, list[int]] = {}
    sealed = 0
    today = t // DAY_US
    if row is not None:
        sealed = int(row.last_seq)
        upto = max(0, min(int(row.days), today - int(row.first_day)))
        if upto:
            before = _running_sums(conn, row)[:, upto - 1, :]
        else:
            before = np.zeros((int(row.n_keys), 2), dtype=np.int64)
        for index in range(before.shape[0]):
            n, units = int(before[index, 0]), int(before[index, 1])
            if n or units:
                totals[index + 1] = [n, units]
    p = points.c
    # Points effective on T's day up to T, within the sealed prefix.
    strips: list[Any] = [and_(p.seq <= sealed, p.e >= today * DAY_US, p.e <= t)]
    # In the strips after the prefix the key range is what narrows; "e + 0" keeps
    # SQLite from scanning the effective-time index over the whole log instead.
    effective = p.e + 0 <= t
    if k is None:
        strips.append(and_(p.seq > sealed, effective))
    else:
        # Points after the prefix recorded by K: only the blocks holding a point recorded
        # by K, and the unsealed tail, can add any. Two plain ranges of the key, so each
        # reads a block or two, never the log's rest.
        b = blocks.c
        reach = conn.execute(select(func.max(b.last_seq)).where(b.min_r <= k)).scalar() or 0
        tail = conn.execute(select(func.max(b.last_seq))).scalar() or 0
        if reach > sealed:
            strips.append(and_(p.seq > sealed, p.seq <= reach, effective, p.r <= k))
        strips.append(and_(p.seq > max(sealed, tail), effective, p.r <= k))
    for where in strips:
        query = select(p.key_id, func.sum(p.dn), func.sum(p.da)).where(where).group_by(p.key_id)
        for key_id, n, units in conn.execute(query):
            cell = totals.setdefault(int(key_id), [0, 0])
            cell[0] += int(n or 0)
            cell[1] += int(units or 0)
    names = {
        int(r.key_id): (r.policy, r.stage, r.currency, r.policy_version)
        for r in conn.execute(select(keys))
    }
    return {names[i]: (n, units) for i, (n, units) in totals.items() if n or units}


def _running_sums(conn: Connection, head: Any) -> NDArray[np.int64]:
    """The block's sums added up day by day (``[key, d]``: every day up to ``d``), read and
    decoded once per connection: a sealed block never changes, and its sums are the
    largest thing a funnel query reads (tens to hundreds of kilobytes)."""
    kept = memo(conn, "funnel_blocks")
    key = tuple(head)
    found: NDArray[np.int64] | None = kept.get(key)
    if found is None:
        row = conn.execute(
            select(*_BLOCK_HEAD, blocks.c.sums).where(blocks.c.block == head.block)
        ).one()
        found = np.cumsum(BlockSums.from_row(row).array, axis=1)
        while len(kept) >= _KEPT_BLOCKS:
            del kept[next(iter(kept))]
        kept[key] = found
    return found
