"""Backups taken while a writer runs, and restores: on SQLite and PostgreSQL.

A backup restores to the source as it stood at one position (every event up to it,
none after, every batch whole) with read models that equal a replay; a restore refuses
a target that holds anything unless forced, and a bad file changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import psycopg
import pytest

from salesengine.bootstrap import build_engine
from salesengine.store import pg_backup
from salesengine.store.backup import (
    BackupError,
    BadBackupInput,
    Copied,
    TargetNotEmpty,
    backup,
    restore,
)
from salesengine.store.settings import store_settings
from tests.support.faults import Acks, assert_batches_whole, start_writer
from tests.support.services import PG_URL, pg_admin, service_unavailable
from tests.support.soundness import assert_store_sound, log_of


class Stores(NamedTuple):
    source: str
    target: str
    file: Path  # where the backup goes


@pytest.fixture(scope="module")
def restore_database() -> Iterator[str]:
    """A database beside the shared test database, for restores: the backed-up schemas
    are not in it. One per module: dropping a database makes the server checkpoint."""
    for tool in ("pg_dump", "pg_restore", "psql"):
        if pg_backup.find_tool(tool) is None:
            service_unavailable(tool, "not installed (the PostgreSQL client)")
    database = f"r_{uuid.uuid4().hex[:12]}"
    try:
        pg_admin(f"CREATE DATABASE {database} TEMPLATE template0")
    except psycopg.OperationalError as e:
        service_unavailable("PostgreSQL", e)
    try:
        yield urlsplit(PG_URL)._replace(path=f"/{database}").geturl()
    finally:
        pg_admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    """A source store and an empty target of the same kind (on PostgreSQL, a schema of
    the shared test database and one of another database)."""
    if request.param == "sqlite":
        yield Stores(str(tmp_path / "source.db"), str(tmp_path / "restored.db"), tmp_path / "b")
        return
    source = request.getfixturevalue("pg_schema")
    database = request.getfixturevalue("restore_database")
    target = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {target}")  # as an operator makes a store's schema
    try:
        yield Stores(f"{PG_URL}?schema={source}", f"{database}?schema={target}", tmp_path / "b")
    finally:
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {target} CASCADE")


def settings(url: str) -> Any:
    return store_settings(url, creating=False)


def logged_rows(url: str, stop: int | None = None) -> list[tuple[Any, ...]]:
    """The log as stored, up to position ``stop``: every field of every event."""
    engine = build_engine(url, actor="checker", create=False)
    try:
        found = engine.recorder.select_notifications(1, limit=10**9, stop=stop)
        return [
            (n.id, n.originator_id, n.originator_version, n.topic, bytes(n.state)) for n in found
        ]
    finally:
        engine.close()


def write_some(url: str, batches: int = 12) -> list[int]:
    acks = Acks(start_writer(url, 0, batches))
    acks.finish()
    assert acks.proc.returncode == 0, acks.lines
    return acks.acked


def test_a_backup_taken_while_a_writer_runs_restores_the_source_at_one_position(
    stores: Stores,
) -> None:
    acks = Acks(start_writer(stores.source))
    acks.wait_for(15)
    before = list(acks.acked)
    copied = backup(settings(stores.source), stores.file)
    acks.wait_for(len(acks.acked) + 10)
    acks.kill()
    source_log = logged_rows(stores.source)
    assert copied.position < source_log[-1][0], "the writer went on after the backup"

    restored = restore(stores.file, settings(stores.target))
    assert (restored.events, restored.position) == (copied.events, copied.position)
    # Exactly the source's log up to the backup's position: every field of every event.
    restored_log = logged_rows(stores.target)
    assert restored_log == [row for row in source_log if row[0] <= copied.position]
    assert len(restored_log) == copied.events
    # Each batch whole; all those acknowledged before the backup began are in it.
    found = assert_batches_whole(log_of(stores.target), before, max(acks.acked) + 2)
    assert set(before) <= found
    # The read models came with it, consistent with its log, and the store works.
    assert_store_sound(stores.target)


def test_a_restore_refuses_a_store_that_is_not_empty_naming_what_it_holds(
    stores: Stores,
) -> None:
    write_some(stores.source, 6)
    copied = backup(settings(stores.source), stores.file)
    write_some(stores.target, 3)
    before = logged_rows(stores.target)
    with pytest.raises(TargetNotEmpty) as refused:
        restore(stores.file, settings(stores.target))
    assert f"an event store ({len(before)} events, up to position {before[-1][0]})" in (
        refused.value.message
    )
    assert "--force" in refused.value.message
    assert logged_rows(stores.target) == before, "a refused restore changed the target"

    forced = restore(stores.file, settings(stores.target), force=True)
    assert forced.replaced is not None and forced.replaced.events == len(before)
    assert logged_rows(stores.target) == logged_rows(stores.source)
    assert forced.position == copied.position
    assert_store_sound(stores.target)


def test_a_backup_refuses_to_overwrite_a_file_unless_forced(stores: Stores) -> None:
    write_some(stores.source, 2)
    stores.file.write_bytes(b"precious")
    with pytest.raises(TargetNotEmpty, match="exists"):
        backup(settings(stores.source), stores.file)
    assert stores.file.read_bytes() == b"precious"
    copied: Copied = backup(settings(stores.source), stores.file, force=True)
    assert copied.events == len(logged_rows(stores.source))
    assert stores.file.stat().st_size == copied.bytes


def test_a_damaged_backup_is_refused_and_the_target_is_unchanged(stores: Stores) -> None:
    write_some(stores.source, 6)
    backup(settings(stores.source), stores.file)
    write_some(stores.target, 2)
    before = logged_rows(stores.target)
    damaged = stores.file.with_name("damaged")
    whole = stores.file.read_bytes()
    damaged.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(BackupError):
        restore(damaged, settings(stores.target), force=True)
    assert logged_rows(stores.target) == before
    assert not list(stores.file.parent.glob(".*partial*"))


def test_a_backup_restores_only_into_its_own_kind(tmp_path: Path) -> None:
    sqlite_store = str(tmp_path / "s.db")
    write_some(sqlite_store, 1)
    backup(settings(sqlite_store), tmp_path / "b")
    with pytest.raises(BadBackupInput, match="restores into a store of its own kind"):
        restore(tmp_path / "b", settings("postgresql://postgres@127.0.0.1:1/x"))


@pytest.mark.postgres
def test_a_restore_beside_its_own_schema_is_refused_naming_it(
    tmp_path: Path, pg_schema: str
) -> None:
    """The archive creates the backed-up schema before it is renamed: in the database
    that still holds it, the restore cannot pass through it."""
    if pg_backup.find_tool("pg_dump") is None:
        service_unavailable("pg_dump", "not installed (the PostgreSQL client)")
    url = f"{PG_URL}?schema={pg_schema}"
    write_some(url, 1)
    backup(settings(url), tmp_path / "b")
    other = f"o_{uuid.uuid4().hex[:12]}"
    with pytest.raises(BadBackupInput) as refused:
        restore(tmp_path / "b", settings(f"{PG_URL}?schema={other}"))
    assert f"the backup's schema '{pg_schema}' exists in that database too" in (
        refused.value.message
    )


@pytest.mark.postgres
def test_without_pg_dump_the_error_says_what_to_run(
    tmp_path: Path, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{PG_URL}?schema={pg_schema}"
    write_some(url, 1)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(pg_backup, "_VERSIONED_BINDIRS", str(tmp_path / "none"))
    with pytest.raises(BackupError) as missing:
        backup(settings(url), tmp_path / "b")
    message = missing.value.message
    assert "pg_dump is not installed" in message
    assert f"pg_dump --format=custom --schema={pg_schema} --file={tmp_path / 'b'}" in message
    assert not (tmp_path / "b").exists()
