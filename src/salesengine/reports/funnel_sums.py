"""The funnel from the funnel points: one sealed block's sums plus two small strips.

See projections/funnel_points.py. For (T, K): take the last sealed block whose points
were all recorded by K, sum its per-day totals for the days before T's day, then add
the points of that prefix effective on T's day up to T, and the later points recorded
by K and effective by T.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select

from salesengine.projections.base import to_us
from salesengine.projections.funnel_points import DAY_US, BlockSums, blocks, keys, points


def funnel_sums(
    conn: Connection, at: datetime, known_at: datetime | None
) -> dict[tuple[str, str, str | None, str], tuple[int, int]]:
    """(deals, amount units) per (policy, stage, currency or None, policy version) at T
    known at K."""
    t = to_us(at)
    k = None if known_at is None else to_us(known_at)
    chosen = select(blocks)
    if k is not None:
        chosen = chosen.where(blocks.c.max_r <= k)
    row = conn.execute(chosen.order_by(blocks.c.block.desc()).limit(1)).first()
    totals: dict[int, list[int]] = {}
    sealed = 0
    today = t // DAY_US
    if row is not None:
        sums = BlockSums.from_row(row)
        sealed = sums.last_seq
        upto = max(0, min(sums.days, today - sums.first_day))
        before = sums.array[:, :upto, :].sum(axis=1)
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
