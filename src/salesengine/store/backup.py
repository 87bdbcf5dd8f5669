"""Backing a store up and restoring it: one consistent copy of the whole database.

A backup holds everything the store's database holds at one instant: the events, the
read models and their positions, the relay's positions, the kept policy versions, the
tokens and the store's id. So a restored store is the source as it stood at that
instant, read models included, and never half of a write.

- SQLite: the sqlite3 online backup API copies the file in one step under one read
  snapshot; in WAL mode writers go on meanwhile and none of their later commits is in
  the copy. The copy is written beside the target, checked and renamed into place, so a
  failed backup (a full disk) leaves no file that looks like a backup. A backup is an
  SQLite store itself (``--db backup.db`` reads it).
- PostgreSQL: ``pg_dump`` of the store's schema in its custom format, taken in a
  snapshot this module exports so that the position it reports is the dump's
  (``store/pg_backup.py``).

Restoring refuses a target that holds anything unless forced, and names what is there;
it refuses a store in use (SQLite: held by another process; PostgreSQL: another session
on its database) rather than replace it under a running service; and it keeps the
revocations of the store it replaces, so that an older copy never brings a revoked
token back.
"""

from __future__ import annotations

import os
import sqlite3
import time
from contextlib import closing, suppress
from pathlib import Path

from salesengine.domain.erasure import ERASURE_TOPIC
from salesengine.domain.errors import StoreMissing
from salesengine.store.backup_shared import (
    TOKENS_TABLE,
    BackupError,
    BadBackupInput,
    Contents,
    Copied,
    StoreInUse,
    TargetNotEmpty,
    create_private,
    partial_path,
    publish,
)
from salesengine.store.personal_keys import KEYS_TABLE, erased_subjects
from salesengine.store.settings import EVENTS_TABLE, StoreSettings, store_absence

__all__ = [
    "BackupError",
    "BadBackupInput",
    "Contents",
    "Copied",
    "StoreInUse",
    "TargetNotEmpty",
]

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"
LOCK_SECONDS = 30.0  # as the store's own connections wait for a writer
# A restore does not queue behind a store in use: it is refused after this long.
BUSY_SECONDS = 2.0


def backup(settings: StoreSettings, target: Path, *, force: bool = False) -> Copied:
    """Copy the store to the file ``target`` (refused if it exists, unless ``force``)."""
    _check_source(settings)
    target = target.expanduser()
    _check_backup_target(target, force)
    if settings.kind == "postgresql":
        from salesengine.store.pg_backup import dump

        return dump(settings, target)
    return _sqlite_backup(settings, target)


def restore(backup_file: Path, settings: StoreSettings, *, force: bool = False) -> Copied:
    """Replace the store at ``settings`` by the backup; a target that holds anything is
    refused unless ``force``."""
    backup_file = backup_file.expanduser()
    kind = backup_kind(backup_file)
    if kind != settings.kind:
        raise BadBackupInput(
            f"{backup_file} is a backup of {_KIND_NAME[kind]} store and {settings.display} "
            f"is {_KIND_NAME[settings.kind]} one: a backup restores into a store of its own "
            "kind (to move between kinds, export and import)"
        )
    if settings.kind == "postgresql":
        from salesengine.store.pg_backup import pg_restore

        return pg_restore(backup_file, settings, force=force)
    return _sqlite_restore(backup_file, settings, force)


_KIND_NAME = {"sqlite": "an SQLite", "postgresql": "a PostgreSQL"}


def backup_kind(path: Path) -> str:
    """Which store a backup file is of, told by its first bytes; a clear error for a
    path that is not there or not a backup."""
    if not path.exists():
        raise BadBackupInput(f"backup file {path}: no such file")
    if not path.is_file():
        raise BadBackupInput(f"backup file {path}: not a file")
    try:
        with path.open("rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as e:
        raise BadBackupInput(f"backup file {path}: cannot read it: {e.strerror}") from None
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_DUMP_MAGIC):
        return "postgresql"
    raise BadBackupInput(
        f"backup file {path}: not a salesengine backup (neither an SQLite database nor a "
        "pg_dump custom-format archive)"
    )


def _check_source(settings: StoreSettings) -> None:
    if settings.kind == "sqlite" and _in_memory(settings):
        raise BadBackupInput("an in-memory store cannot be backed up: name a file with --db")
    try:
        absence = store_absence(settings)
    except _open_errors(settings.kind) as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BackupError(f"{settings.display}: cannot open the event store: {reason}") from None
    if absence is not None:
        raise StoreMissing(absence)


def _open_errors(kind: str) -> tuple[type[Exception], ...]:
    """The errors of a store that cannot be opened at all; psycopg's only for PostgreSQL
    (an SQLite run does not import it)."""
    if kind == "postgresql":
        import psycopg

        return sqlite3.Error, OSError, psycopg.Error
    return sqlite3.Error, OSError


def _in_memory(settings: StoreSettings) -> bool:
    name = settings.env["SQLITE_DBNAME"]
    return name == ":memory:" or name.startswith("file:")


def _check_backup_target(target: Path, force: bool) -> None:
    if not target.parent.is_dir():
        raise BadBackupInput(f"cannot write backup {target}: {target.parent} is not a directory")
    if target.is_dir():
        raise BadBackupInput(f"cannot write backup {target}: it is a directory")
    if target.exists() and not force:
        raise TargetNotEmpty(
            f"backup file {target} exists ({target.stat().st_size:,} bytes): "
            "choose another name, or --force to replace it"
        )


# ---------------------------------------------------------------------------- SQLite


def sqlite_contents(conn: sqlite3.Connection) -> Contents:
    tables = tuple(
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    )
    events = position = 0
    if EVENTS_TABLE["sqlite"] in tables:
        count, head = conn.execute(
            f"SELECT count(*), coalesce(max(rowid), 0) FROM {EVENTS_TABLE['sqlite']}"
        ).fetchone()
        events, position = int(count), int(head)
    return Contents(events, position, tables)


def _sqlite_backup(settings: StoreSettings, target: Path) -> Copied:
    source = settings.env["SQLITE_DBNAME"]
    partial = partial_path(target)
    started = time.perf_counter()
    try:
        with (
            closing(sqlite3.connect(source, timeout=LOCK_SECONDS)) as src,
            closing(_private_database(partial)) as dst,
        ):
            # One step (pages=-1): the whole copy is read in one snapshot. Copying in
            # several steps would start over after every commit of a busy writer.
            src.backup(dst)
            # One self-contained file, with no write-ahead log beside it.
            dst.execute("PRAGMA journal_mode=DELETE")
            _check_integrity(dst, f"the copy of {source}")
            held = sqlite_contents(dst)
        publish(partial, target)
    except (sqlite3.Error, OSError) as e:
        raise BackupError(f"cannot back up {source} to {target}: {_reason(e)}") from None
    finally:
        with suppress(OSError):
            partial.unlink(missing_ok=True)
    return Copied(
        "sqlite",
        source,
        str(target),
        held.events,
        held.position,
        target.stat().st_size,
        time.perf_counter() - started,
    )


def _sqlite_restore(backup_file: Path, settings: StoreSettings, force: bool) -> Copied:
    if _in_memory(settings):
        raise BadBackupInput("cannot restore into an in-memory store: name a file with --db")
    target = Path(settings.env["SQLITE_DBNAME"])
    if not target.parent.is_dir():
        raise BadBackupInput(f"cannot restore into {target}: {target.parent} does not exist")
    if target.is_dir():
        raise BadBackupInput(f"cannot restore into {target}: it is a directory")
    started = time.perf_counter()
    existed = target.exists()
    try:
        with closing(sqlite3.connect(backup_file)) as src:
            _check_integrity(src, f"backup file {backup_file}")
            held = sqlite_contents(src)
            if EVENTS_TABLE["sqlite"] not in held.tables:
                raise BadBackupInput(f"backup file {backup_file}: holds no event store")
            with closing(_locked(target)) as dst:
                replaced = sqlite_contents(dst)
                if replaced.tables and not force:
                    raise TargetNotEmpty(
                        f"{target} is not empty: it holds {replaced.describe()}; restore "
                        "--force replaces all of it"
                    )
                revoked = {t: when for t, when in _tokens(dst).items() if when is not None}
                erased = _erased(dst)
                dst.execute("COMMIT")  # the lock stays: the connection's locking mode
                # The copy is one write transaction on the target: it lands whole or,
                # failing (a full disk), leaves the target as it was.
                kept, kept_erased = _copy_keeping(src, dst, revoked, erased, target)
                dst.execute("PRAGMA journal_mode=WAL")
    except BaseException as e:
        if not existed:  # no empty file left where there was none
            _remove_database(target)
        if isinstance(e, sqlite3.Error | OSError):
            raise BackupError(
                f"cannot restore {backup_file} into {target}: {_reason(e)}; the target is unchanged"
            ) from None
        raise
    return Copied(
        "sqlite",
        str(backup_file),
        str(target),
        held.events,
        held.position,
        backup_file.stat().st_size,
        time.perf_counter() - started,
        replaced if replaced.tables else None,
        kept,
        kept_erased,
    )


def _locked(target: Path) -> sqlite3.Connection:
    """A connection to the target that holds it exclusively until it is closed: no
    other process reads or writes it meanwhile (in WAL mode, none may even hold it
    open). A store another process holds is refused after BUSY_SECONDS."""
    conn = sqlite3.connect(target, timeout=BUSY_SECONDS, isolation_level=None)
    try:
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
    except sqlite3.OperationalError as e:
        conn.close()
        if "locked" not in str(e) and "busy" not in str(e):
            raise
        raise StoreInUse(
            f"cannot restore into {target}: another process uses it (the service, an "
            "import, project --follow, a relay...); stop it, then restore again"
        ) from None
    except sqlite3.DatabaseError as e:
        conn.close()
        raise BadBackupInput(
            f"cannot restore into {target}: it is not an SQLite database ({e}); "
            "move it away or name another --db"
        ) from None
    return conn


def _copy_keeping(
    src: sqlite3.Connection,
    dst: sqlite3.Connection,
    revoked: dict[str, object],
    erased: set[str],
    target: Path,
) -> tuple[int, int]:
    """Copy the backup over the target, with the target's revocations kept on the
    tokens the backup holds live and its erasures on the keys the backup still holds;
    how many of each. Those are applied to a copy beside the target first, so that the
    target is written once, revocations, erasures and all."""
    live = {token for token, when in _tokens(src).items() if when is None} & revoked.keys()
    keys = _key_subjects(src) & erased
    if not live and not keys:
        src.backup(dst)
        return 0, 0
    stage = target.with_name(f".{target.name}.restore-{os.getpid()}")
    try:
        create_private(stage)
        with closing(sqlite3.connect(stage)) as staged:
            src.backup(staged)
            with staged:
                if live:
                    staged.executemany(
                        f"UPDATE {TOKENS_TABLE} SET revoked_at = ? "
                        "WHERE id = ? AND revoked_at IS NULL",
                        [(revoked[token], token) for token in sorted(live)],
                    )
                if keys:
                    staged.execute("PRAGMA secure_delete = ON")
                    staged.executemany(
                        f"DELETE FROM {KEYS_TABLE} WHERE subject = ?",
                        [(k,) for k in sorted(keys)],
                    )
            staged.backup(dst)
    finally:
        _remove_database(stage)
    return len(live), len(keys)


def _erased(conn: sqlite3.Connection) -> set[str]:
    """The subjects a store's erasure events name."""
    if not _has_table(conn, EVENTS_TABLE["sqlite"]):
        return set()
    found: set[str] = set()
    for (state,) in conn.execute(
        f"SELECT state FROM {EVENTS_TABLE['sqlite']} WHERE topic = ?", (ERASURE_TOPIC,)
    ):
        found.update(erased_subjects(state))
    return found


def _key_subjects(conn: sqlite3.Connection) -> set[str]:
    if not _has_table(conn, KEYS_TABLE):
        return set()
    return {str(r[0]) for r in conn.execute(f"SELECT subject FROM {KEYS_TABLE}")}


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return found is not None


def _tokens(conn: sqlite3.Connection) -> dict[str, object]:
    """Every token of a store: its id -> when it was revoked (as stored), or None."""
    if (
        conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TOKENS_TABLE,)
        ).fetchone()
        is None
    ):
        return {}
    return {
        str(token): when
        for token, when in conn.execute(f"SELECT id, revoked_at FROM {TOKENS_TABLE}")
    }


def _remove_database(path: Path) -> None:
    for name in (path, *(path.with_name(path.name + s) for s in ("-journal", "-wal", "-shm"))):
        with suppress(OSError):
            name.unlink(missing_ok=True)


def _private_database(path: Path) -> sqlite3.Connection:
    create_private(path)
    return sqlite3.connect(path)


def _check_integrity(conn: sqlite3.Connection, what: str) -> None:
    found = [row[0] for row in conn.execute("PRAGMA quick_check")]
    if found != ["ok"]:
        raise BadBackupInput(f"{what} is damaged: {'; '.join(found[:3])}")


def _reason(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)
