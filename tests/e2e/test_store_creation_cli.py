"""Only commands that record create a store: a read of a store that is not there (a
mistyped --db), the relay's included, is an error naming it, exit status 2, and creates
nothing."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.support.cli_runner import CLI
from tests.support.services import PG_URL

READS = [
    ("funnel",),
    ("funnel", "--as-of", "2026-03-01T00:00:00Z", "--compare", "2026-03-31T00:00:00Z"),
    ("conversion", "--from", "2026-01-01", "--to", "2026-04-01"),
    ("cycle-time", "--from", "2026-01-01", "--to", "2026-04-01"),
    ("forecast",),
    ("health",),
    ("plan", "--target", "1000000", "--period", "2026-Q2"),
    ("plan", "--per", "rep", "--period", "2026-Q2"),
    ("vvalue",),
    ("quota", "list"),
    ("quota", "show", "--rep", "Li Wei"),
    ("history", "ACME-1"),
    ("export", "out.xes"),
    # The relay reads the event log; it refuses a missing store before any broker.
    ("relay", "--broker", "nats://127.0.0.1:9", "--once", "--timeout", "0.5"),
    # Tokens are listed and revoked in a store that is there; only `token create` makes one.
    ("token", "list"),
    ("token", "revoke", "0123456789ab"),
]


@pytest.mark.parametrize("args", READS, ids=lambda a: a[0])
def test_a_read_of_a_missing_sqlite_store_is_refused_and_creates_nothing(
    cli: CLI, tmp_path: Path, args: tuple[str, ...]
) -> None:
    typo = tmp_path / "sales-typo.db"
    run = cli(*args, db_url=str(typo))
    assert run.code == 2, run
    assert f"no event store at {typo}" in run.err
    assert not typo.exists()
    assert not (tmp_path / "out.xes").exists()


def test_a_read_in_a_missing_directory_names_the_store(cli: CLI, tmp_path: Path) -> None:
    typo = tmp_path / "no-such-dir" / "sales.db"
    run = cli("funnel", db_url=str(typo))
    assert run.code == 2, run
    assert f"no event store at {typo}" in run.err


def test_a_file_that_holds_no_store_is_not_made_one_by_a_read(cli: CLI, tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    run = cli("forecast", db_url=str(empty))
    assert run.code == 2, run
    assert f"no event store at {empty}" in run.err
    assert empty.stat().st_size == 0


def _tables(schema: str) -> list[str]:
    with psycopg.connect(PG_URL) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema,),
        ).fetchall()
    return [r[0] for r in rows]


@pytest.mark.postgres
@pytest.mark.parametrize("args", READS, ids=lambda a: a[0])
def test_a_read_of_an_empty_postgres_schema_is_refused_and_creates_nothing(
    cli: CLI, pg_schema: str, tmp_path: Path, args: tuple[str, ...]
) -> None:
    url = f"{PG_URL}?schema={pg_schema}"
    run = cli(*args, db_url=url)
    assert run.code == 2, run
    assert f"no event store at {url}" in run.err
    assert f"schema '{pg_schema}'" in run.err
    assert _tables(pg_schema) == []
    assert not (tmp_path / "out.xes").exists()


def test_commands_that_record_create_the_store(cli: CLI, tmp_path: Path) -> None:
    for name, args in [
        ("opened.db", ("deal", "open", "A", "--policy", "funnel-list")),
        ("swept.db", ("sweep",)),
        ("projected.db", ("project",)),
        ("tokens.db", ("token", "create", "--name", "ines", "--role", "auditor")),
    ]:
        store = tmp_path / name
        run = cli(*args, db_url=str(store))
        assert run.code == 0, run
        assert store.exists()
    # And once it exists, a read of it works (empty, not refused).
    run = cli("funnel", "--json", db_url=str(tmp_path / "swept.db"))
    assert run.code == 0, run


@pytest.mark.postgres
def test_a_write_creates_the_postgres_store_that_reads_then_find(cli: CLI, pg_schema: str) -> None:
    url = f"{PG_URL}?schema={pg_schema}"
    assert cli("deal", "open", "A", "--policy", "funnel-list", db_url=url).code == 0
    run = cli("history", "A", "--json", db_url=url)
    assert run.code == 0, run
    assert run.json()["deal"] == "A"
