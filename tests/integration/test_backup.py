"""Backups taken while a writer runs, and restores: on SQLite and PostgreSQL.

A backup restores to the source as it stood at one position (every event up to it,
none after, every batch whole) with read models that equal a replay; a restore refuses
a target that holds anything unless forced, and a bad file changes nothing.
"""

from __future__ import annotations

import shlex
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from psycopg.conninfo import conninfo_to_dict

from salesengine.store import pg_backup
from salesengine.store.backup import (
    BackupError,
    BadBackupInput,
    Copied,
    TargetNotEmpty,
    backup,
    restore,
)
from tests.support.backup_stores import Stores, logged_rows, settings, write_some
from tests.support.faults import Acks, assert_batches_whole, start_writer
from tests.support.services import PG_URL, service_unavailable
from tests.support.soundness import assert_store_sound, log_of


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
    # The command shown runs as it is: the schema quoted as an exact name, and a URL
    # that libpq takes (salesengine's ?schema= is not one of its parameters).
    command = shlex.split(message.split("where it is, run: ", 1)[1])
    assert command[:4] == [
        "pg_dump",
        "--format=custom",
        f'--schema="{pg_schema}"',
        f"--file={tmp_path / 'b'}",
    ]
    assert "schema=" not in command[4]
    assert conninfo_to_dict(command[4])["dbname"] == urlsplit(PG_URL).path.lstrip("/")
    assert not (tmp_path / "b").exists()
