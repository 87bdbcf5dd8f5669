"""PostgreSQL backups through the server's own tools: ``pg_dump`` and ``pg_restore``.

The store lives in one schema (``?schema=`` of the URL, else ``public``), so a backup is
``pg_dump --format=custom --schema=S`` of it. This module opens a REPEATABLE READ
transaction, exports its snapshot and has pg_dump read in that snapshot: the position
it reports is exactly the dump's, while writers go on.

A restore replays the archive (``pg_restore`` to SQL) through ``psql`` in ONE
transaction, between dropping the target schema and renaming the backup's schema to it
when the names differ: it lands whole or the target stays as it was. When the tools
are not installed, the error says which command to run where they are.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import psycopg

from salesengine.store.backup_shared import (
    BackupError,
    BadBackupInput,
    Contents,
    Copied,
    TargetNotEmpty,
    partial_path,
    publish,
)
from salesengine.store.settings import EVENTS_TABLE, StoreSettings

# Where Debian and Ubuntu put each installed major version's tools.
_VERSIONED_BINDIRS = "/usr/lib/postgresql/*/bin"
TOOL_SECONDS = 3600.0


def find_tool(name: str) -> str | None:
    """``name`` on PATH, else the newest installed major version's."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"{_VERSIONED_BINDIRS}/{name}"),
        key=lambda p: int(re.sub(r"\D", "", Path(p).parent.parent.name) or 0),
    )
    return candidates[-1] if candidates else None


def _tool(name: str, instead: str) -> str:
    found = find_tool(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed (it comes with the PostgreSQL client: "
            f"apt-get install postgresql-client); where it is, run: {instead}"
        )
    return found


def schema_of(settings: StoreSettings) -> str:
    return settings.env["POSTGRES_SCHEMA"] or "public"


def libpq_env(settings: StoreSettings) -> dict[str, str]:
    """The connection for the tools, as libpq's variables: the password never appears
    on a command line (where ``ps`` shows it)."""
    env = settings.env
    found = {
        **os.environ,
        "PGHOST": env["POSTGRES_HOST"],
        "PGPORT": env["POSTGRES_PORT"],
        "PGUSER": env["POSTGRES_USER"],
        "PGDATABASE": env["POSTGRES_DBNAME"],
        "PGCONNECT_TIMEOUT": env["POSTGRES_CONNECT_TIMEOUT"],
    }
    if env["POSTGRES_PASSWORD"]:
        found["PGPASSWORD"] = env["POSTGRES_PASSWORD"]
    return found


def _connect(settings: StoreSettings) -> psycopg.Connection[Any]:
    env = settings.env
    return psycopg.connect(
        dbname=env["POSTGRES_DBNAME"],
        host=env["POSTGRES_HOST"],
        port=int(env["POSTGRES_PORT"]),
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"],
        connect_timeout=int(env["POSTGRES_CONNECT_TIMEOUT"]),
    )


def pg_contents(conn: psycopg.Connection[Any], schema: str) -> Contents:
    """The tables of ``schema`` and, if it holds the events table, their count and head."""
    tables = tuple(
        row[0]
        for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "ORDER BY table_name",
            (schema,),
        )
    )
    events = position = 0
    if EVENTS_TABLE["postgresql"] in tables:
        row = conn.execute(
            f"SELECT count(*), coalesce(max(notification_id), 0) "
            f"FROM {_ident(schema)}.{EVENTS_TABLE['postgresql']}"
        ).fetchone()
        assert row is not None  # an aggregate always answers one row
        events, position = int(row[0]), int(row[1])
    return Contents(events, position, tables)


def dump(settings: StoreSettings, target: Path) -> Copied:
    schema = schema_of(settings)
    command = f"pg_dump --format=custom --schema={schema} --file={target} '{settings.display}'"
    pg_dump = _tool("pg_dump", command)
    partial = partial_path(target)
    started = time.perf_counter()
    try:
        with _connect(settings) as conn:
            # One snapshot for the count below and for pg_dump: the transaction that
            # psycopg begins at the first statement is REPEATABLE READ.
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            exported = conn.execute("SELECT pg_export_snapshot()").fetchone()
            assert exported is not None
            snapshot = exported[0]
            held = pg_contents(conn, schema)
            # pg_dump imports the snapshot; this transaction must stay open until it has.
            done = subprocess.run(
                [
                    pg_dump,
                    "--format=custom",
                    f"--schema={schema}",
                    f"--snapshot={snapshot}",
                    f"--file={partial}",
                ],
                env=libpq_env(settings),
                capture_output=True,
                text=True,
                timeout=TOOL_SECONDS,
                check=False,
            )
            conn.rollback()
        if done.returncode != 0:
            raise BackupError(
                f"cannot back up {settings.display} to {target}: pg_dump: {_first(done.stderr)}"
            )
        publish(partial, target)
    except psycopg.Error as e:
        raise BackupError(f"cannot back up {settings.display}: {_first(str(e))}") from None
    except OSError as e:
        raise BackupError(f"cannot back up {settings.display} to {target}: {e}") from None
    finally:
        with suppress(OSError):
            partial.unlink(missing_ok=True)
    return Copied(
        "postgresql",
        settings.display,
        str(target),
        held.events,
        held.position,
        target.stat().st_size,
        time.perf_counter() - started,
    )


def archive_schema(pg_restore_bin: str, backup_file: Path) -> str:
    """The one schema the archive holds, and a check that it holds an event store."""
    listed = subprocess.run(
        [pg_restore_bin, "--list", str(backup_file)],
        capture_output=True,
        text=True,
        timeout=TOOL_SECONDS,
        check=False,
    )
    if listed.returncode != 0:
        raise BadBackupInput(f"backup file {backup_file}: pg_restore: {_first(listed.stderr)}")
    schemas = re.findall(r"^\d+; \d+ \d+ SCHEMA - (\S+) ", listed.stdout, flags=re.M)
    events = re.findall(
        rf"^\d+; \d+ \d+ TABLE (\S+) {EVENTS_TABLE['postgresql']} ", listed.stdout, flags=re.M
    )
    if len(set(events)) != 1:
        raise BadBackupInput(f"backup file {backup_file}: holds no event store")
    if schemas and schemas != events[:1]:
        raise BadBackupInput(
            f"backup file {backup_file}: holds several schemas ({', '.join(schemas)}); a "
            "salesengine backup holds one"
        )
    return str(events[0])


def pg_restore(backup_file: Path, settings: StoreSettings, *, force: bool) -> Copied:
    schema = schema_of(settings)
    restore_bin = _tool(
        "pg_restore",
        f"pg_restore --no-owner --no-privileges --single-transaction "
        f"--dbname='{settings.display}' {backup_file}",
    )
    psql = _tool("psql", "psql (from the same PostgreSQL client as pg_restore)")
    source = archive_schema(restore_bin, backup_file)
    started = time.perf_counter()
    try:
        with _connect(settings) as conn:
            replaced = pg_contents(conn, schema)
            if replaced.tables and not force:
                raise TargetNotEmpty(
                    f"{settings.display}: schema {schema!r} is not empty: it holds "
                    f"{replaced.describe()}; restore --force replaces all of it"
                )
            if source != schema and _schema_exists(conn, source):
                raise BadBackupInput(
                    f"cannot restore into schema {schema!r} of {settings.display}: the "
                    f"backup's schema {source!r} exists in that database too, and the "
                    f"restore passes through it; restore into ?schema={source} or another "
                    "database"
                )
        _replay(restore_bin, psql, backup_file, settings, source, schema)
        with _connect(settings) as conn:
            held = pg_contents(conn, schema)
    except psycopg.Error as e:
        raise BackupError(f"cannot restore into {settings.display}: {_first(str(e))}") from None
    return Copied(
        "postgresql",
        str(backup_file),
        settings.display,
        held.events,
        held.position,
        backup_file.stat().st_size,
        time.perf_counter() - started,
        replaced if replaced.tables else None,
    )


def _schema_exists(conn: psycopg.Connection[Any], schema: str) -> bool:
    found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    return found is not None


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _replay(
    restore_bin: str,
    psql: str,
    backup_file: Path,
    settings: StoreSettings,
    source: str,
    schema: str,
) -> None:
    """The archive as SQL, then that SQL in one transaction with the schema's swap."""
    with tempfile.TemporaryDirectory(prefix="salesengine-restore-") as work:
        sql = Path(work) / "restore.sql"
        made = subprocess.run(
            [restore_bin, "--no-owner", "--no-privileges", f"--file={sql}", str(backup_file)],
            capture_output=True,
            text=True,
            timeout=TOOL_SECONDS,
            check=False,
        )
        if made.returncode != 0:
            raise BadBackupInput(f"backup file {backup_file}: pg_restore: {_first(made.stderr)}")
        # The target schema goes first (it is empty or absent unless forced: checked
        # above); the archive creates its own schema, renamed to the target's.
        steps = ["-c", f"DROP SCHEMA IF EXISTS {_ident(schema)} CASCADE", "-f", str(sql)]
        if source != schema:
            steps += ["-c", f"ALTER SCHEMA {_ident(source)} RENAME TO {_ident(schema)}"]
        ran = subprocess.run(
            [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", *steps],
            env=libpq_env(settings),
            capture_output=True,
            text=True,
            timeout=TOOL_SECONDS,
            check=False,
        )
    if ran.returncode != 0:
        raise BackupError(
            f"cannot restore {backup_file} into {settings.display}: psql: "
            f"{_first(ran.stderr)}; the target is unchanged"
        )


def _first(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "failed without a message"
