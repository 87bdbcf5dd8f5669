"""PostgreSQL backups through the server's own tools: ``pg_dump`` and ``pg_restore``.

The store lives in one schema (``?schema=`` of the URL, else ``public``), so a backup is
``pg_dump --format=custom --schema=S`` of it. This module opens a REPEATABLE READ
transaction, exports its snapshot and has pg_dump read in that snapshot: the position
it reports is exactly the dump's, while writers go on.

A restore replays the archive (``pg_restore`` to SQL) through ``psql`` in ONE
transaction, between checking and dropping the target schema and renaming the backup's
schema to it when the names differ (``store/pg_restore_script.py``): it lands whole or
the target stays as it was. psql is the one beside pg_restore, of the same version.
When the tools are not installed, the error says which command to run where they are.

The archive's SQL is run as it is: restoring a file from someone untrusted runs their
SQL as the restoring user (docs/operations.md).
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import psycopg

from salesengine.store.backup_shared import (
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
from salesengine.store.pg_restore_script import (
    ERASED_MARK,
    NOT_EMPTY_MARK,
    after_archive,
    before_archive,
    kept_count,
)
from salesengine.store.settings import EVENTS_TABLE, StoreSettings
from salesengine.store.settings import quoted_ident as ident

# Where Debian and Ubuntu put each installed major version's tools.
_VERSIONED_BINDIRS = "/usr/lib/postgresql/*/bin"
TOOL_SECONDS = 3600.0
# How long a restore waits for other sessions on the target database to go (a client
# that just disconnected leaves its backend for a moment) before it refuses.
SESSIONS_GRACE_SECONDS = 3.0


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


def schema_pattern(schema: str) -> str:
    """pg_dump's ``--schema`` takes a pattern (folded to lower case, ``*?.``
    special); double-quoted, it matches the name exactly."""
    return ident(schema)


def libpq_url(settings: StoreSettings) -> str:
    """The store's URL as libpq takes it: without salesengine's own parameters
    (``schema``), password masked. For commands shown to the user."""
    parts = urlsplit(settings.display)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "schema"]
    return parts._replace(query=urlencode(kept)).geturl()


def _command(*argv: str) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def run_tool(argv: list[str], what: str, **options: Any) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL tool; one that does not finish in time, or cannot be started,
    is a ``BackupError`` saying so (the tool is killed)."""
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=TOOL_SECONDS, check=False, **options
        )
    except subprocess.TimeoutExpired:
        raise BackupError(
            f"{what}: {Path(argv[0]).name} did not finish within {TOOL_SECONDS:g} s and was stopped"
        ) from None
    except OSError as e:
        raise BackupError(f"{what}: cannot run {argv[0]}: {e.strerror or e}") from None


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
            f"FROM {ident(schema)}.{EVENTS_TABLE['postgresql']}"
        ).fetchone()
        assert row is not None  # an aggregate always answers one row
        events, position = int(row[0]), int(row[1])
    return Contents(events, position, tables)


def dump(settings: StoreSettings, target: Path) -> Copied:
    schema = schema_of(settings)
    command = _command(
        "pg_dump",
        "--format=custom",
        f"--schema={schema_pattern(schema)}",
        f"--file={target}",
        libpq_url(settings),
    )
    pg_dump = _tool("pg_dump", command)
    partial = partial_path(target)
    started = time.perf_counter()
    try:
        create_private(partial)
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
            done = run_tool(
                [
                    pg_dump,
                    "--format=custom",
                    f"--schema={schema_pattern(schema)}",
                    f"--snapshot={snapshot}",
                    f"--file={partial}",
                ],
                f"cannot back up {settings.display} to {target}",
                env=libpq_env(settings),
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
    listed = run_tool(
        [pg_restore_bin, "--list", str(backup_file)], f"cannot read backup file {backup_file}"
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
        _command(
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            f"--dbname={libpq_url(settings)}",
            str(backup_file),
        ),
    )
    psql = _psql_beside(restore_bin)
    source = archive_schema(restore_bin, backup_file)
    started = time.perf_counter()
    try:
        with _connect(settings) as conn:
            replaced = pg_contents(conn, schema)
            if replaced.tables and not force:
                raise TargetNotEmpty(
                    f"{settings.display}: schema {schema!r} is not empty: it holds "
                    f"{replaced.describe()}; {NOT_EMPTY_MARK}"
                )
            if source != schema and _schema_exists(conn, source):
                raise BadBackupInput(
                    f"cannot restore into schema {schema!r} of {settings.display}: the "
                    f"backup's schema {source!r} exists in that database too, and the "
                    f"restore passes through it; restore into ?schema={source} or another "
                    "database"
                )
            _refuse_other_sessions(conn, settings)
        kept, erased = _replay(restore_bin, psql, backup_file, settings, source, schema, force)
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
        kept,
        erased,
    )


def _psql_beside(restore_bin: str) -> str:
    """The psql of pg_restore's own installation: the SQL pg_restore writes is for
    its own version's psql (a newer one's meta-commands are unknown to an older)."""
    psql = Path(restore_bin).with_name("psql")
    if not psql.is_file():
        raise BackupError(
            f"psql is not installed beside {restore_bin}: install the whole PostgreSQL "
            "client (apt-get install postgresql-client)"
        )
    return str(psql)


def _refuse_other_sessions(conn: psycopg.Connection[Any], settings: StoreSettings) -> None:
    """A restore replaces the schema under whoever uses it. A session does not show
    which schema it uses, so any other client session on the target database (the
    service, a writer, a relay, or anyone else) refuses the restore; one that is just
    going away is waited for a moment."""
    deadline = time.monotonic() + SESSIONS_GRACE_SECONDS
    while True:
        others = conn.execute(
            "SELECT pid, usename, application_name, client_addr FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend' ORDER BY pid"
        ).fetchall()
        conn.rollback()  # a fresh snapshot of the statistics at the next look
        if not others or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if others:
        shown = "; ".join(
            f"pid {pid} user {user}"
            + (f" application {app!r}" if app else "")
            + (f" from {addr}" if addr else "")
            for pid, user, app, addr in others[:5]
        ) + ("; ..." if len(others) > 5 else "")
        raise StoreInUse(
            f"cannot restore into {settings.display}: {len(others)} other session"
            f"{'' if len(others) == 1 else 's'} connected to database "
            f"{settings.env['POSTGRES_DBNAME']!r} ({shown}); stop the service and the "
            "writers using it, then restore again"
        )


def _schema_exists(conn: psycopg.Connection[Any], schema: str) -> bool:
    found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    return found is not None


def _replay(
    restore_bin: str,
    psql: str,
    backup_file: Path,
    settings: StoreSettings,
    source: str,
    schema: str,
    force: bool,
) -> tuple[int, int]:
    """The archive as SQL, then that SQL in one transaction with the target's check,
    drop and the schema's rename; how many revocations and erasures of the target were
    kept."""
    with tempfile.TemporaryDirectory(prefix="salesengine-restore-") as work:
        sql = Path(work) / "restore.sql"
        made = run_tool(
            [restore_bin, "--no-owner", "--no-privileges", f"--file={sql}", str(backup_file)],
            f"cannot read backup file {backup_file}",
        )
        if made.returncode != 0:
            raise BadBackupInput(f"backup file {backup_file}: pg_restore: {_first(made.stderr)}")
        before, after = Path(work) / "before.sql", Path(work) / "after.sql"
        before.write_text(before_archive(schema, force=force), encoding="utf-8")
        after.write_text(after_archive(source, schema), encoding="utf-8")
        ran = run_tool(
            [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction",
             "-f", str(before), "-f", str(sql), "-f", str(after)],
            f"cannot restore {backup_file} into {settings.display} (the target is unchanged)",
            env=libpq_env(settings),
        )  # fmt: skip
    if ran.returncode != 0:
        reason = _first(ran.stderr)
        if NOT_EMPTY_MARK in ran.stderr or "other objects depend on it" in ran.stderr:
            held = reason.split("ERROR:", 1)[-1].strip()
            if NOT_EMPTY_MARK not in held:  # made in the schema while the restore ran
                held += f"; {NOT_EMPTY_MARK}"
            raise TargetNotEmpty(f"{settings.display}: {held}")
        raise BackupError(
            f"cannot restore {backup_file} into {settings.display}: psql: "
            f"{reason}; the target is unchanged"
        )
    return kept_count(ran.stdout), kept_count(ran.stdout, ERASED_MARK)


def _first(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "failed without a message"
