"""The audit chain's tables beside the events, and the rows a write adds to them.

Each stored event gets one row in ``salesengine_audit_chain``, keyed by its position in
the log (SQLite's rowid, PostgreSQL's notification id) and written by the recorder in
the events' own transaction, under the lock that orders the log: the event's hash
(chained to its aggregate's previous event), the digest of its stored state and the
log's hash after it (``salesengine.audit_verifier`` defines all three). The row also
names the event's aggregate and version, so that a verifier can say which event went
missing when its row in the events table did.

``salesengine_audit_meta`` records when chaining began: a store that held events
before it did is chained as it stands the first time it is opened (``chain_existing``,
called by both recorders at start-up), and the row says up to which position the
chain attests only to the state the events were in at that moment.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from salesengine.audit_verifier import EVENT_TAG, GENESIS, LOG_TAG

_U64 = struct.Struct(">Q")
_U32 = struct.Struct(">I")

CHAIN_TABLE = "salesengine_audit_chain"
META_TABLE = "salesengine_audit_meta"
META_ROW = "chain"
CHAIN_COLUMNS = "position, seq, aggregate, version, state_digest, event_hash, log_hash"
UPGRADE_PAGE = 10_000


def sqlite_statements() -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} ("
        "position INTEGER PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, aggregate TEXT NOT NULL, "
        "version INTEGER NOT NULL, state_digest BLOB NOT NULL, event_hash BLOB NOT NULL, "
        "log_hash BLOB NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {META_TABLE} ("
        "name TEXT PRIMARY KEY, chained_since TEXT NOT NULL, upgraded_through INTEGER NOT NULL, "
        "upgraded_events INTEGER NOT NULL)",
    ]


def postgres_statements(schema: str) -> list[str]:
    """The same tables on PostgreSQL (``schema`` quoted already)."""
    return [
        f"CREATE TABLE IF NOT EXISTS {schema}.{CHAIN_TABLE} ("
        "position bigint PRIMARY KEY, seq bigint NOT NULL UNIQUE, aggregate text NOT NULL, "
        "version bigint NOT NULL, state_digest bytea NOT NULL, event_hash bytea NOT NULL, "
        "log_hash bytea NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {schema}.{META_TABLE} ("
        "name text PRIMARY KEY, chained_since timestamptz NOT NULL, "
        "upgraded_through bigint NOT NULL, upgraded_events bigint NOT NULL)",
    ]


class Head(NamedTuple):
    """The chain's last row: its entry count, position and log hash (zeros when empty)."""

    seq: int
    position: int
    log: bytes


EMPTY = Head(0, 0, GENESIS)

# (position, aggregate as 32 hex digits, version, topic, state) of one event to chain
ToChain = tuple[int, str, int, str, bytes]
ChainRow = tuple[int, int, str, int, bytes, bytes, bytes]


def chain_rows(
    head: Head, events: Iterable[ToChain], previous: Mapping[str, bytes]
) -> list[ChainRow]:
    """The chain's rows for ``events`` (in log order) after ``head``; ``previous``: the
    event hash of the latest stored event of each aggregate the events continue.

    ``state_digest``, ``event_hash`` and ``log_hash`` of ``salesengine.audit_verifier``
    written out in the loop: on a bulk import their calls cost as much as the hashing
    (the tests hold the two to the same hashes)."""
    seq, log = head.seq, head.log
    last = dict(previous)
    rows: list[ChainRow] = []
    append = rows.append
    sha256, u64, join = hashlib.sha256, _U64.pack, b"".join
    topics: dict[str, bytes] = {}  # each topic's length-prefixed bytes, made once
    for position, aggregate, version, topic, state in events:
        digest = sha256(state).digest()
        framed = topics.get(topic)
        if framed is None:
            t = topic.encode()
            framed = topics[topic] = _U32.pack(len(t)) + t
        prev = last.get(aggregate, GENESIS)
        hashed = sha256(
            join((EVENT_TAG, prev, aggregate.encode(), u64(version), framed, digest))
        ).digest()
        last[aggregate] = hashed
        seq += 1
        log = sha256(join((LOG_TAG, log, u64(position), hashed))).digest()
        append((position, seq, aggregate, version, digest, hashed, log))
    return rows


class LastLinks:
    """The event hash of the last event each aggregate got from this writer, by
    (aggregate, version): an event never changes, so a hash remembered for its version
    is its hash for good, whoever writes the aggregate's next event. Saves the recorder
    reading it back for an aggregate whose events span batches (a bulk import's deals).
    Filled only after the write's commit; bounded (emptied when full)."""

    LIMIT = 200_000

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, bytes]] = {}

    def known(
        self, wanted: Sequence[tuple[str, int]]
    ) -> tuple[dict[str, bytes], list[tuple[str, int]]]:
        """Of the (aggregate, version)s ``wanted``: the hashes remembered, and the rest."""
        found: dict[str, bytes] = {}
        rest: list[tuple[str, int]] = []
        last = self._last
        for aggregate, version in wanted:
            kept = last.get(aggregate)
            if kept is not None and kept[0] == version:
                found[aggregate] = kept[1]
            else:
                rest.append((aggregate, version))
        return found, rest

    def committed(self, rows: Sequence[ChainRow]) -> None:
        if len(self._last) + len(rows) > self.LIMIT:
            self._last = {}
        last = self._last
        for row in rows:
            last[row[2]] = (row[3], row[5])


def continued(events: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """The (aggregate, version) of the stored event each aggregate of a batch continues:
    its version before its first in the batch, for those that do not start at 1."""
    first: dict[str, int] = {}
    for aggregate, version in events:
        if aggregate not in first:
            first[aggregate] = version
    return [(a, v - 1) for a, v in first.items() if v > 1]


def chain_existing(
    head: Head,
    read_page: Callable[[int], list[ToChain]],
    write: Callable[[list[ChainRow]], None],
) -> tuple[int, int]:
    """Chain every stored event after ``head``, page by page (``read_page(after)``: the
    next events after that position, in log order): the upgrade of a store that held
    events before it was chained. Returns (events chained, the last position)."""
    last: dict[str, bytes] = {}
    count, after = 0, head.position
    while page := read_page(after):
        rows = chain_rows(head, page, last)
        write(rows)
        for row in rows:
            last[row[2]] = row[5]
        head = Head(rows[-1][1], rows[-1][0], rows[-1][6])
        count, after = count + len(rows), head.position
    return count, after


def now() -> datetime:
    return datetime.now(UTC)
