"""Funnel points: the funnel as a sum, so any (T, K) is answered without scanning deals.

Each deal's place in the funnel is a step function of effective time: its (policy,
stage, currency, policy version) key and amount, taken from the stage intervals and the
deal attributes (the same functions those read models use). When an event changes that
function, the difference is written as points at the event's recorded time r: at each
effective instant e where the function changed, -1 and -amount on the old key, +1 and
+amount on the new one. The funnel as of T known at K is then the sum of the points with
``e <= T`` and ``r <= K``, exactly, for counts and amounts.

Points are sealed in blocks of ``BLOCK`` points, in log order. Each sealed block stores,
per key and per day of effective time, the sums over every point up to the block's end,
so a query reads one block, adds the points of T's own day within it, and the few
points after it that were recorded by K.
"""

from __future__ import annotations

import heapq
import zlib
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
    func,
    select,
)

from salesengine.projections.base import Envelope, metadata
from salesengine.projections.bitemporal import executemany
from salesengine.projections.projection import Projection
from salesengine.projections.timeline import TIMELINE_TOPICS, DealTimeline, FunnelKey, Step

BLOCK = 20_000  # points per sealed block
DAY_US = 86_400_000_000  # the effective-time bucket of a block's sums

keys = Table(
    "funnel_keys",
    metadata,
    Column("key_id", Integer, primary_key=True, autoincrement=False),
    Column("policy", String(64), nullable=False),
    Column("stage", String(64), nullable=False),
    Column("currency", String(3), nullable=True),  # null: the policy's currency
    # The policy version the stage was entered under: it weighs the key's amounts.
    Column("policy_version", String(64), nullable=False),
    UniqueConstraint("policy", "stage", "currency", "policy_version"),
)
points = Table(
    "funnel_points",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("e", BigInteger, nullable=False),
    Column("r", BigInteger, nullable=False),
    Column("key_id", Integer, nullable=False),
    Column("dn", Integer, nullable=False),
    Column("da", BigInteger, nullable=False),
    # Covering: the query's strip of T's day reads the index alone.
    Index("ix_funnel_points_e", "e", "seq", "key_id", "dn", "da"),
)
blocks = Table(
    "funnel_blocks",
    metadata,
    Column("block", Integer, primary_key=True, autoincrement=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("max_r", BigInteger, nullable=False),  # over this block and every earlier one
    Column("min_r", BigInteger, nullable=False),  # over this block alone
    Column("first_day", BigInteger, nullable=False),
    Column("days", Integer, nullable=False),
    Column("n_keys", Integer, nullable=False),
    Column("sums", LargeBinary, nullable=False),  # zlib of int64[n_keys, days, 2]
)


def differences(old: list[Step], new: list[Step]) -> list[tuple[int, FunnelKey, int, int]]:
    """(e, key, dn, da): what turns ``old`` into ``new``, at each instant either changes."""
    if old == new:
        return []  # most events move neither the deal's funnel key nor its amount
    found: dict[tuple[int, FunnelKey], list[int]] = {}
    for sign, steps in ((-1, old), (1, new)):
        previous: Step | None = None
        for step in steps:
            at, key, amount = step
            cell = found.setdefault((at, key), [0, 0])
            cell[0] += sign
            cell[1] += sign * amount
            if previous is not None:
                before = found.setdefault((at, previous[1]), [0, 0])
                before[0] -= sign
                before[1] -= sign * previous[2]
            previous = step
    changed = [(at, key, n, a) for (at, key), (n, a) in found.items() if n or a]
    if len(changed) > 1:
        changed.sort(key=_point_order)
    return changed


def _point_order(point: tuple[int, FunnelKey, int, int]) -> tuple[int, str, str, str, str]:
    at, (policy, stage, currency, version), _, _ = point
    return (at, policy, stage, currency or "", version)


class FunnelPoints(Projection):
    name = "funnel_points"
    version = 4  # 2: blocks carry min_r; 3: the day index covers the query; 4: versions
    tables = (keys, points, blocks)
    topics = TIMELINE_TOPICS
    block_size = BLOCK  # tests seal tiny blocks to cover every path of the query

    def __init__(self) -> None:
        self._keys: dict[FunnelKey, int] | None = None
        self._next_seq = 0
        self._sums: BlockSums | None = None  # the last sealed block's sums
        self._open: list[tuple[int, int, int, int, int, int]] = []  # points not sealed yet
        self._found: list[Found] = []  # the batch's differences, not numbered yet
        self._new_keys: list[tuple[int, str, str, str | None, str]] = []  # of this write

    def forget(self) -> None:
        self._keys = None
        self._sums = None
        self._open.clear()
        self._found.clear()

    def apply(
        self,
        conn: Connection,  # noqa: ARG002 - points are numbered and written on write
        envelope: Envelope,
        timeline: DealTimeline | None,
    ) -> None:
        assert timeline is not None
        changed = differences(timeline.old_steps, timeline.new_steps())
        if changed:
            self._found.append(Found(envelope.position, envelope.recorded_us, changed))

    def take(self) -> list[Found]:
        found, self._found = self._found, []
        return found

    @staticmethod
    def merge(parts: list[list[Found]]) -> list[Found]:
        """In log order: points are numbered, and blocks sealed, in the order of the
        events that made them."""
        return list(heapq.merge(*parts, key=lambda found: found.position))

    def write(self, conn: Connection, taken: list[Found]) -> None:
        """Number the points, seal the blocks they fill, and write them all."""
        if self._keys is None:
            self._restore(conn)
        new_points: list[tuple[int, int, int, int, int, int]] = []
        self._new_keys.clear()
        new_blocks: list[dict[str, Any]] = []
        for found in taken:
            recorded = found.recorded_us
            for at, key, dn, da in found.points:
                self._next_seq += 1
                point = (self._next_seq, at, recorded, self._key_id(key), dn, da)
                new_points.append(point)
                self._open.append(point)
                if len(self._open) == self.block_size:
                    new_blocks.append(self._seal())
        if self._new_keys:
            executemany(
                conn,
                keys.insert(),
                self._new_keys,
                ("key_id", "policy", "stage", "currency", "policy_version"),
            )
        if new_points:
            executemany(conn, points.insert(), new_points, ("seq", "e", "r", "key_id", "dn", "da"))
        if new_blocks:
            names = tuple(new_blocks[0])
            rows = [tuple(b[n] for n in names) for b in new_blocks]
            executemany(conn, blocks.insert(), rows, names)

    def _key_id(self, key: FunnelKey) -> int:
        assert self._keys is not None
        found = self._keys.get(key)
        if found is None:
            found = self._keys[key] = len(self._keys) + 1
            self._new_keys.append((found, *key))
        return found

    def _seal(self) -> dict[str, Any]:
        previous = self._sums
        assert self._keys is not None
        days = [p[1] // DAY_US for p in self._open]
        first = min(days) if previous is None else min(*days, previous.first_day)
        last = max(days) if previous is None else max(*days, previous.first_day + previous.days - 1)
        sums = np.zeros((len(self._keys), last - first + 1, 2), dtype=np.int64)
        if previous is not None:
            k, d = previous.array.shape[:2]
            offset = previous.first_day - first
            sums[:k, offset : offset + d] = previous.array
        index = np.array([p[3] - 1 for p in self._open])
        day = np.array(days) - first
        np.add.at(sums[:, :, 0], (index, day), np.array([p[4] for p in self._open]))
        np.add.at(sums[:, :, 1], (index, day), np.array([p[5] for p in self._open]))
        max_r = max(p[2] for p in self._open)
        min_r = min(p[2] for p in self._open)
        if previous is not None:
            max_r = max(max_r, previous.max_r)
        block = 1 if previous is None else previous.block + 1
        self._sums = BlockSums(block, self._open[-1][0], max_r, first, sums)
        self._open.clear()
        return {**self._sums.row(), "min_r": min_r}

    def _restore(self, conn: Connection) -> None:
        """After a start or a rollback: keys, the last sealed sums and the open points."""
        self._keys = {
            (r.policy, r.stage, r.currency, r.policy_version): int(r.key_id)
            for r in conn.execute(select(keys))
        }
        self._next_seq = int(conn.execute(select(func.max(points.c.seq))).scalar() or 0)
        row = conn.execute(select(blocks).order_by(blocks.c.block.desc()).limit(1)).first()
        self._sums = None if row is None else BlockSums.from_row(row)
        sealed = 0 if self._sums is None else self._sums.last_seq
        found = conn.execute(
            select(points.c.seq, points.c.e, points.c.r, points.c.key_id, points.c.dn, points.c.da)
            .where(points.c.seq > sealed)
            .order_by(points.c.seq)
        )
        self._open = [tuple(int(v) for v in r) for r in found]  # type: ignore[misc]


class Found(NamedTuple):
    """The points one event made: where it stands in the log, when it was recorded, and
    (e, key, dn, da) for each."""

    position: int
    recorded_us: int
    points: list[tuple[int, FunnelKey, int, int]]


@dataclass(slots=True)
class BlockSums:
    """A sealed block's sums: per funnel key and per day of effective time from
    ``first_day``, the deals and amount units of every point up to ``last_seq``."""

    block: int
    last_seq: int
    max_r: int
    first_day: int
    array: NDArray[np.int64]

    @property
    def days(self) -> int:
        return int(self.array.shape[1])

    def row(self) -> dict[str, Any]:
        return {
            "block": self.block,
            "last_seq": self.last_seq,
            "max_r": self.max_r,
            "first_day": self.first_day,
            "days": self.days,
            "n_keys": int(self.array.shape[0]),
            "sums": zlib.compress(self.array.tobytes(), 1),
        }

    @classmethod
    def from_row(cls, row: Any) -> BlockSums:
        flat = np.frombuffer(zlib.decompress(row.sums), dtype=np.int64)
        array = flat.reshape((int(row.n_keys), int(row.days), 2)).copy()
        return cls(int(row.block), int(row.last_seq), int(row.max_r), int(row.first_day), array)
