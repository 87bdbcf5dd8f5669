"""Two questions the engine asks of the recorder in one query each: which of many deals
exist, and where one deal's events are in the notification log."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder


class RecorderExisting:
    """Which of many aggregates exist, in one query per few hundred ids."""

    CHUNK = 500

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.recorder = recorder

    def __call__(self, ids: Collection[UUID]) -> set[UUID]:
        recorder: Any = self.recorder
        found: set[UUID] = set()
        wanted = list(ids)
        for start in range(0, len(wanted), self.CHUNK):
            part = wanted[start : start + self.CHUNK]
            if isinstance(recorder, SQLiteApplicationRecorder):
                marks = ",".join("?" * len(part))
                sql = (
                    f"SELECT originator_id FROM {recorder.events_table_name} "
                    f"WHERE originator_version=1 AND originator_id IN ({marks})"
                )
                with recorder.datastore.transaction(commit=False) as c:
                    c.execute(sql, [i.hex for i in part])
                    found.update(UUID(r[0]) for r in c.fetchall())
            elif _is_postgres(recorder):
                from psycopg.sql import SQL, Identifier

                statement = SQL(
                    "SELECT originator_id FROM {0}.{1} "
                    "WHERE originator_version=1 AND originator_id = ANY(%s)"
                ).format(
                    Identifier(recorder.datastore.schema),
                    Identifier(recorder.events_table_name),
                )
                with recorder.datastore.transaction(commit=False) as curs:
                    curs.execute(statement, (part,))
                    found.update(UUID(str(r["originator_id"])) for r in curs.fetchall())
            else:
                return set(ids)  # unknown recorder: claim all exist, so each is read
        return found


class RecorderPositions:
    """Global notification-log positions of one deal's events, read from the recorder."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.recorder = recorder

    def __call__(self, originator_id: UUID) -> dict[int, int]:
        recorder: Any = self.recorder
        if isinstance(recorder, SQLiteApplicationRecorder):
            sql = (
                f"SELECT originator_version, rowid FROM {recorder.events_table_name} "
                "WHERE originator_id=?"
            )
            with recorder.datastore.transaction(commit=False) as c:
                c.execute(sql, (originator_id.hex,))
                return {int(r[0]): int(r[1]) for r in c.fetchall()}
        if _is_postgres(recorder):
            from psycopg.sql import SQL, Identifier

            statement = SQL(
                "SELECT originator_version, notification_id FROM {0}.{1} WHERE originator_id=%s"
            ).format(Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name))
            with recorder.datastore.transaction(commit=False) as curs:
                curs.execute(statement, (originator_id,))
                return {
                    int(r["originator_version"]): int(r["notification_id"]) for r in curs.fetchall()
                }
        return {}


def _is_postgres(recorder: ApplicationRecorder) -> bool:
    """Asked only of a recorder that is not SQLite's: psycopg and eventsourcing.postgres
    take a tenth of a second to import, which an SQLite run should not pay at start-up."""
    from eventsourcing.postgres import PostgresApplicationRecorder

    return isinstance(recorder, PostgresApplicationRecorder)
