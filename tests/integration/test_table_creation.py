"""Start-up table creation: one retry, for every step that creates tables, when another
process created them first; any other error at once."""

from __future__ import annotations

import sqlite3
from uuid import UUID

import psycopg
import pytest
from sqlalchemy.exc import SQLAlchemyError

from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from salesengine.store.table_creation import ATTEMPTS, lost_creation_race, retry_creation
from tests.support.services import PG_URL
from tests.support.stores import opened_store_id
from tests.support.threads import at_once

pytestmark = pytest.mark.postgres


def pg_error(schema: str, statement: str) -> psycopg.Error:
    """The error PostgreSQL gives for ``statement`` in ``schema``."""
    with psycopg.connect(PG_URL, autocommit=True, options=f"-csearch_path={schema}") as conn:
        try:
            conn.execute(statement)
        except psycopg.Error as e:
            return e
    raise AssertionError(f"{statement} succeeded")


def test_the_race_is_recognised_from_the_driver_sqlalchemy_and_the_library(
    pg_schema: str,
) -> None:
    with psycopg.connect(PG_URL, autocommit=True, options=f"-csearch_path={pg_schema}") as c:
        c.execute("CREATE TABLE taken (n int)")
    duplicate = pg_error(pg_schema, "CREATE TABLE taken (n int)")
    assert duplicate.sqlstate == "42P07"
    assert lost_creation_race(duplicate)
    sql = sql_engine(store_settings(f"{PG_URL}?schema={pg_schema}"))
    try:
        with pytest.raises(SQLAlchemyError) as wrapped, sql.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE taken (n int)")
    finally:
        sql.dispose()
    assert lost_creation_race(wrapped.value)
    chained = RuntimeError("as the library wraps it")
    chained.__cause__ = duplicate
    assert lost_creation_race(chained)
    # Anything else is not the race.
    assert not lost_creation_race(pg_error(pg_schema, "CREATE TABLE (n int)"))
    assert not lost_creation_race(pg_error(pg_schema, "SELECT * FROM missing"))
    assert not lost_creation_race(sqlite3.OperationalError("file is not a database"))


def test_a_step_that_lost_the_race_is_tried_again_and_no_other_is(pg_schema: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True, options=f"-csearch_path={pg_schema}") as c:
        c.execute("CREATE TABLE taken (n int)")
    calls: list[str] = []

    def losing_once() -> str:
        calls.append("race")
        if len(calls) == 1:
            raise pg_error(pg_schema, "CREATE TABLE taken (n int)")
        return "created"

    assert retry_creation(losing_once) == "created"
    assert calls == ["race", "race"]

    calls.clear()

    def broken() -> str:
        calls.append("broken")
        raise pg_error(pg_schema, "CREATE TABLE (n int)")

    with pytest.raises(psycopg.errors.SyntaxError):
        retry_creation(broken)
    assert calls == ["broken"]

    calls.clear()

    def always_losing() -> str:
        calls.append("race")
        raise pg_error(pg_schema, "CREATE TABLE taken (n int)")

    with pytest.raises(psycopg.errors.DuplicateTable):
        retry_creation(always_losing)
    assert len(calls) == ATTEMPTS


def test_processes_opening_a_new_store_at_once_all_open_the_same_store(pg_schema: str) -> None:
    url = f"{PG_URL}?schema={pg_schema}"
    ids: list[UUID] = []
    assert at_once(lambda _: ids.append(opened_store_id(url)), 4) == []
    assert len(ids) == 4 and len(set(ids)) == 1
