"""What a restore must not do: bring back a revoked token, drop what it was not told to
replace, restore under a running store, or stop on a tool with a traceback; and what a
backup must not do: copy another schema than the store's, or leave its file readable
by everyone."""

from __future__ import annotations

import os
import sqlite3
import stat
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from salesengine.access.roles import Role
from salesengine.access.tokens import Refusal, RefusalReason, TokenStore
from salesengine.bootstrap import build_engine
from salesengine.store import pg_backup
from salesengine.store.backup import BackupError, StoreInUse, TargetNotEmpty, backup, restore
from salesengine.store.settings import quoted_ident
from salesengine.store.sql import sql_engine
from tests.support.backup_stores import Stores, logged_rows, settings, write_some
from tests.support.commands import cmd
from tests.support.services import PG_URL, pg_admin


@pytest.fixture
def tokens() -> Iterator[dict[str, TokenStore]]:
    """The tokens of a store, by URL; their engines disposed of at the end."""
    made: dict[str, TokenStore] = {}
    yield made
    for store in made.values():
        store.sql.dispose()


def tokens_of(made: dict[str, TokenStore], url: str) -> TokenStore:
    if url not in made:
        made[url] = TokenStore(sql_engine(settings(url)))
    return made[url]


def test_a_restore_over_a_store_keeps_the_tokens_it_had_revoked(
    stores: Stores, tokens: dict[str, TokenStore]
) -> None:
    write_some(stores.source, 2)
    source = tokens_of(tokens, stores.source)
    leaked = source.create("Li Wei", Role.ADMIN)
    kept = source.create("Ana Ruiz", Role.AUDITOR)
    backup(settings(stores.source), stores.file)
    restore(stores.file, settings(stores.target))
    target = tokens_of(tokens, stores.target)
    revoked_at = target.revoke(leaked.info.id).revoked_at
    for store in tokens.values():
        store.sql.dispose()  # no session of the test in the store a restore replaces

    forced = restore(stores.file, settings(stores.target), force=True)

    assert forced.kept_revoked == 1
    refused = target.authenticate(leaked.text)
    assert isinstance(refused, Refusal) and refused.reason is RefusalReason.REVOKED
    assert target.get(leaked.info.id).revoked_at == revoked_at
    assert not isinstance(target.authenticate(kept.text), Refusal)
    # The backup itself is not changed: restored elsewhere, the token is live there.
    assert not source.get(leaked.info.id).revoked


def test_a_busy_sqlite_store_is_refused_at_once_and_left_as_it_was(tmp_path: Path) -> None:
    source, target = str(tmp_path / "source.db"), tmp_path / "target.db"
    write_some(source, 2)
    write_some(str(target), 3)
    backup(settings(source), tmp_path / "b")
    before = logged_rows(str(target))
    writer = sqlite3.connect(target, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a writer in the middle of a batch
    try:
        with pytest.raises(StoreInUse, match="another process uses it"):
            restore(tmp_path / "b", settings(str(target)), force=True)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert logged_rows(str(target)) == before


def test_a_sqlite_store_a_running_engine_holds_is_refused_until_it_stops(
    tmp_path: Path,
) -> None:
    source, target = str(tmp_path / "source.db"), str(tmp_path / "target.db")
    write_some(source, 2)
    backup(settings(source), tmp_path / "b")
    engine = build_engine(target, actor="service")
    engine.execute(cmd(deal="D-1", cmd="open", policy="funnel-list", amount="100"))
    try:
        with pytest.raises(StoreInUse):
            restore(tmp_path / "b", settings(target), force=True)
    finally:
        engine.close()
    assert restore(tmp_path / "b", settings(target), force=True).events == len(logged_rows(source))


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_backup_file_is_readable_by_its_owner_only(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = str(tmp_path / "s.db")
    if kind == "postgres":
        request.getfixturevalue("restore_database")  # skips without the tools
        url = f"{PG_URL}?schema={request.getfixturevalue('pg_schema')}"
    write_some(url, 1)
    was = os.umask(0o022)
    try:
        backup(settings(url), tmp_path / "b")
    finally:
        os.umask(was)
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o600


# ------------------------------------------------------------------------ PostgreSQL


@contextmanager
def pg_store(name: str, batches: int) -> Iterator[str]:
    """A store in a schema of exactly ``name``, dropped afterwards. The library's
    recorder cannot write into a schema named in capitals or with a dot (its type
    lookup does not quote), so the store is written under a plain name and renamed."""
    plain = f"p_{uuid.uuid4().hex[:12]}"
    pg_admin(f"CREATE SCHEMA {plain}")
    try:
        write_some(f"{PG_URL}?schema={plain}", batches)
        if name != plain:
            pg_admin(f"ALTER SCHEMA {plain} RENAME TO {quoted_ident(name)}")
        yield f"{PG_URL}?schema={name}"
    finally:
        pg_admin(f"DROP SCHEMA IF EXISTS {plain} CASCADE")
        pg_admin(f"DROP SCHEMA IF EXISTS {quoted_ident(name)} CASCADE")


def pg_log(url: str) -> list[tuple[object, ...]]:
    """A PostgreSQL store's log, read directly (the recorder cannot open every schema)."""
    database, schema = url.split("?schema=")
    with psycopg.connect(database) as conn:
        return conn.execute(
            f"SELECT notification_id, originator_id, originator_version, topic, state "
            f"FROM {quoted_ident(schema)}.salesengine_events ORDER BY notification_id"
        ).fetchall()


@pytest.mark.postgres
@pytest.mark.parametrize("form", ["Sales_{}", "east.x*_{}"])
def test_a_schema_named_with_capitals_or_pattern_characters_is_backed_up_exactly(
    form: str, tmp_path: Path, restore_database: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    name = form.format(tag)
    # Beside it, a store in the schema that pg_dump's pattern of the name would match
    # (its case folded).
    with pg_store(name, 2) as url, ExitStack() as decoys:
        if name.lower() != name:
            decoy = decoys.enter_context(pg_store(name.lower(), 4))
            assert pg_log(decoy) != pg_log(url)
        copied = backup(settings(url), tmp_path / "b")
        target = f"{restore_database}?schema=restored_{tag}"
        restored = restore(tmp_path / "b", settings(target))
        assert restored.position == copied.position
        assert pg_log(target) == pg_log(url)


POSTGRES_ONLY = pytest.mark.parametrize("stores", ["postgres"], indirect=True)


@pytest.mark.postgres
@POSTGRES_ONLY
def test_a_restore_refuses_a_schema_that_holds_any_kind_of_object(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_some(stores.source, 1)
    backup(settings(stores.source), stores.file)
    database, schema = stores.target.split("?schema=")
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(f"CREATE SEQUENCE {schema}.invoice_numbers")
        conn.execute(f"CREATE FUNCTION {schema}.vat() RETURNS numeric LANGUAGE sql AS 'SELECT 0.2'")
    with pytest.raises(TargetNotEmpty) as refused:
        restore(stores.file, settings(stores.target))
    assert "it holds 1 function, 1 sequence; restore --force replaces all of it" in (
        refused.value.message
    )

    # A table made after salesengine looked, before psql ran: the check in the restore's
    # own transaction still sees it, and nothing is dropped.
    def table_made_meanwhile(*_: object) -> None:
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {schema}.invoices (n int)")
            conn.execute(f"INSERT INTO {schema}.invoices VALUES (7)")

    monkeypatch.setattr(pg_backup, "_refuse_other_sessions", table_made_meanwhile)
    with pytest.raises(TargetNotEmpty, match="1 table"):
        restore(stores.file, settings(stores.target))
    with psycopg.connect(database) as conn:
        assert conn.execute(f"SELECT n FROM {schema}.invoices").fetchall() == [(7,)]
        assert conn.execute(f"SELECT nextval('{schema}.invoice_numbers')").fetchone() == (1,)


@pytest.mark.postgres
@POSTGRES_ONLY
def test_a_restore_is_refused_while_another_session_uses_the_database(stores: Stores) -> None:
    write_some(stores.source, 1)
    backup(settings(stores.source), stores.file)
    database = stores.target.split("?")[0]
    with psycopg.connect(database, application_name="sales-service") as service:
        pid = service.info.backend_pid
        with pytest.raises(StoreInUse) as refused:
            restore(stores.file, settings(stores.target))
    assert f"1 other session connected to database {urlsplit(database).path[1:]!r}" in (
        refused.value.message
    )
    assert f"pid {pid} user postgres application 'sales-service'" in refused.value.message
    assert restore(stores.file, settings(stores.target)).events == len(logged_rows(stores.source))


@pytest.mark.postgres
@POSTGRES_ONLY
def test_a_pg_tool_that_does_not_finish_in_time_is_a_clear_error(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_some(stores.source, 1)
    monkeypatch.setattr(pg_backup, "TOOL_SECONDS", 0.001)
    with pytest.raises(BackupError, match=r"pg_dump did not finish within 0\.001 s"):
        backup(settings(stores.source), stores.file)
    assert not stores.file.exists()
    assert not list(stores.file.parent.glob(".*partial*"))


@pytest.mark.postgres
@POSTGRES_ONLY
def test_psql_is_taken_from_pg_restores_own_installation(
    stores: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_some(stores.source, 1)
    backup(settings(stores.source), stores.file)
    client, other = tmp_path / "client", tmp_path / "other"
    client.mkdir()
    other.mkdir()
    for tool in ("pg_restore", "psql"):
        found = pg_backup.find_tool(tool)
        assert found is not None
        (client / tool).symlink_to(found)
    stray = other / "psql"  # another version's psql, first on PATH
    stray.write_text("#!/bin/sh\necho 'psql from another version' >&2\nexit 3\n")
    stray.chmod(0o755)
    monkeypatch.setenv("PATH", f"{other}:{client}")
    assert restore(stores.file, settings(stores.target)).events == len(logged_rows(stores.source))
