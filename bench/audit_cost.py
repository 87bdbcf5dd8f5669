"""What the audit chain and the sealing of personal data cost, measured by
``bench/ingest.py`` in the same run as the rest.

- Ingest: ``salesengine import`` in one process (no worker pool to blur it) into a
  chained store that seals personal data (visit notes and attendees), against the same
  import into a store whose recorder writes no chain and whose codec seals nothing (the
  recorders and codec as they were before both, kept here only for this comparison).
  The two alternate ``repeat`` times; the fastest of each counts.
- Verify: ``verify_store`` over the chained store, against reading the same events
  through the same paged reads and decoding each with the engine's codec (what any
  consumer of the log pays at least).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic
from harness import Schemas, remove_sqlite, status, with_schema

from salesengine.application.engine import SalesEngine, utc_now
from salesengine.audit.log_rows import LogRows
from salesengine.audit.verify import verify_store
from salesengine.bootstrap import build_engine, policy_catalog
from salesengine.importing.jsonl import import_file
from salesengine.store.codec import DateAsISO, OrjsonMapper
from salesengine.store.indexes import RecorderExisting, RecorderPositions
from salesengine.store.postgres_recorder import PostgresRecorder
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from salesengine.store.sqlite_recorder import BatchSQLiteRecorder


class UnchainedSQLiteRecorder(BatchSQLiteRecorder):
    """The SQLite recorder less the chain: one executemany, the versions beside."""

    def create_table(self) -> None:
        SQLiteApplicationRecorder.create_table(self)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        with self.datastore.transaction(commit=True) as c:
            self._keep(c, kwargs.get("policy_versions", ()))
            c.executemany(
                self.insert_events_statement,
                [
                    (s.originator_id.hex, s.originator_version, s.topic, s.state)  # type: ignore[union-attr]
                    for s in stored_events
                ],
            )
        return None


class UnchainedPostgresRecorder(PostgresRecorder):
    """The PostgreSQL recorder less the chain."""

    def create_table(self) -> None:
        PostgresApplicationRecorder.create_table(self)

    def _insert_stored_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        PostgresApplicationRecorder._insert_stored_events(self, curs, stored_events, **kwargs)
        versions = kwargs.get("policy_versions", ())
        if versions:
            with curs.connection.cursor() as other:
                self._keep(other, versions)

    def _fetch_ids_after_insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        return PostgresApplicationRecorder._fetch_ids_after_insert_events(
            self, curs, stored_events, **kwargs
        )


class PlainMapper(OrjsonMapper):
    """The codec less the sealing: the engine finds nothing to attach a keyring to."""

    attach = None  # type: ignore[assignment]


def unchained_engine(db: str) -> SalesEngine:
    """The engine as ``build_engine`` makes it, on a recorder that writes no chain and a
    codec that seals no personal data."""
    settings = store_settings(db)
    env = dict(settings.env)
    recorder = UnchainedSQLiteRecorder if settings.kind == "sqlite" else UnchainedPostgresRecorder
    env["APPLICATION_RECORDER_TOPIC"] = get_topic(recorder)
    return SalesEngine(
        policy_catalog(),
        clock=utc_now,
        default_actor="bench",
        positions=RecorderPositions,
        existing=RecorderExisting,
        mapper=PlainMapper,
        transcodings=[DateAsISO()],
        env=env,
    )


@dataclass(frozen=True)
class AuditCost:
    store: str
    events: int
    chained: float  # seconds, the best run
    unchained: float
    verify: float
    read_decode: float
    holds: bool

    def lines(self) -> list[str]:
        loss = 1 - self.unchained / self.chained
        pace = self.read_decode / self.verify
        return [
            f"{self.store}: import of {self.events:,} events, 1 process: "
            f"{self.events / self.chained:,.0f} ev/s chained and sealed, plain "
            f"{self.events / self.unchained:,.0f} ev/s: {loss:.1%} lost (target <= 15%)",
            f"{self.store}: verify {self.events / self.verify:,.0f} ev/s, raw read + decode "
            f"{self.events / self.read_decode:,.0f} ev/s: {pace:.2f}x (target >= 0.5x); "
            f"verdict {'holds' if self.holds else 'DOES NOT HOLD'}",
        ]


def _import(engine: SalesEngine, path: Path, batch_size: int) -> float:
    try:
        started = perf_counter()
        import_file(engine, path, batch_size=batch_size)
        return perf_counter() - started
    finally:
        engine.close()


def _verify_and_read(db: str) -> tuple[int, float, float, bool]:
    settings = store_settings(db, creating=False)
    sql = sql_engine(settings, reader=True)
    engine = build_engine(db, actor="bench", create=False)
    try:
        started = perf_counter()
        report = verify_store(settings, sql, []).report
        verify = perf_counter() - started
        rows = LogRows(settings)
        decode = engine.mapper.decode  # type: ignore[attr-defined]
        started = perf_counter()
        count = 0
        with rows.snapshot(sql) as conn:
            for _position, (aggregate, version, topic, state) in rows._events(conn, 0):
                decode(topic, UUID(aggregate), version, state)
                count += 1
        read_decode = perf_counter() - started
    finally:
        engine.close()
        sql.dispose()
    assert count == report.size, (count, report.size)
    return count, verify, read_decode, report.holds


def audit_cost(
    store: str, target: Path | str, workload_path: Path, batch_size: int, repeat: int
) -> AuditCost:
    """``target``: a work directory (SQLite) or a PostgreSQL URL."""
    chained: list[float] = []
    unchained: list[float] = []
    for round_ in range(repeat):
        for chain in (True, False):
            name = f"audit_{'chained' if chain else 'unchained'}_{round_}"
            status(f"{store}: import, {'chained' if chain else 'unchained'}, round {round_ + 1}")
            if store == "sqlite":
                assert isinstance(target, Path)
                db = str(target / f"{name}.db")
                remove_sqlite(Path(db))
                engine = build_engine(db, actor="bench") if chain else unchained_engine(db)
                (chained if chain else unchained).append(_import(engine, workload_path, batch_size))
                if chain and round_ == repeat - 1:
                    measured = _verify_and_read(db)
                continue
            with Schemas(str(target), (name,)):
                db = with_schema(str(target), name)
                engine = build_engine(db, actor="bench") if chain else unchained_engine(db)
                (chained if chain else unchained).append(_import(engine, workload_path, batch_size))
                if chain and round_ == repeat - 1:
                    measured = _verify_and_read(db)
    events, verify, read_decode, holds = measured
    return AuditCost(store, events, min(chained), min(unchained), verify, read_decode, holds)
