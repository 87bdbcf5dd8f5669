"""Stores with a history of every kind of aggregate, direct SQL on their tables (the
tampering a database's holder can do), and the verdicts of both verifiers."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from salesengine.application.account_commands import parse_account_command
from salesengine.application.accounts import Accounts
from salesengine.application.engine import SalesEngine
from salesengine.application.quota_commands import parse_quota_command
from salesengine.application.quotas import Quotas
from salesengine.audit.export import export_log
from salesengine.audit.verify import StoreReport, verify_store
from salesengine.audit_verifier import Report, VerifierKey, verify_export
from salesengine.store.chain_table import CHAIN_COLUMNS, EMPTY, chain_rows
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.commands import FIVE_LEVEL_OPENING, cmd


def write_history(engine: SalesEngine) -> None:
    """Three deals with several events each, an account and a quota: 12 events, the
    deals' interleaved in the log."""
    for key in ("A", "B", "C"):
        engine.execute(
            cmd(cmd="open", deal=key, policy="five-level", amount="1000", facts=FIVE_LEVEL_OPENING)
        )
    engine.execute(cmd(cmd="amount", deal="A", amount="2000"))
    engine.execute(cmd(cmd="amount", deal="B", amount="3000"))
    engine.execute(cmd(cmd="visit", deal="A", id="v1"))
    engine.execute(cmd(cmd="amount", deal="A", amount="2500"))
    engine.execute(cmd(cmd="amount", deal="C", amount="50"))
    accounts = Accounts(engine)
    accounts.execute(
        parse_account_command({"cmd": "account_open", "account": "ACME", "owner": "ann"})
    )
    accounts.execute(parse_account_command({"cmd": "grade", "account": "ACME", "grade": "A"}))
    Quotas(engine).execute(
        parse_quota_command(
            {"cmd": "set_quota", "rep": "Li", "period": "2026", "amount": "1200", "currency": "CNY"}
        )
    )
    engine.execute(cmd(cmd="amount", deal="B", amount="3100"))


class StoreTables:
    """Direct SQL on a store: its events table, its position column and the chain's."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = "://" not in url
        self.events = "stored_events" if self.sqlite else "salesengine_events"
        self.position = "rowid" if self.sqlite else "notification_id"
        self.chain = "salesengine_audit_chain"

    @contextmanager
    def connect(self) -> Iterator[Any]:
        if self.sqlite:
            conn = sqlite3.connect(self.url)
            try:
                yield conn
                conn.commit()
            finally:
                conn.close()
            return
        base, _, schema = self.url.partition("?schema=")
        with psycopg.connect(base, options=f"-csearch_path={schema}") as pg:
            yield pg

    def run(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        """``statement`` with ``?`` for parameters on either database."""
        with self.connect() as conn:
            conn.execute(statement if self.sqlite else statement.replace("?", "%s"), params)

    def rows(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.connect() as conn:
            found = conn.execute(
                statement if self.sqlite else statement.replace("?", "%s"), params
            ).fetchall()
        return [tuple(r) for r in found]

    def events_at(self) -> list[tuple[int, str, int]]:
        """(position, aggregate as 32 hex digits, version) of every event, in log order."""
        found = self.rows(
            f"SELECT {self.position}, originator_id, originator_version FROM {self.events} "
            f"ORDER BY {self.position}"
        )
        return [(p, a if isinstance(a, str) else a.hex, v) for p, a, v in found]


def both_verdicts(url: str, keys: list[VerifierKey] | None = None) -> tuple[StoreReport, Report]:
    """The store verified in the engine, and its export by the standalone verifier."""
    settings = store_settings(url, creating=False)
    sql = sql_engine(settings, reader=True)
    try:
        in_store = verify_store(settings, sql, keys or [])
        out = io.StringIO()
        export_log(settings, sql, out)
    finally:
        sql.dispose()
    standalone = verify_export(io.StringIO(out.getvalue()), keys or [])
    return in_store, standalone


def export_text(url: str) -> str:
    settings = store_settings(url, creating=False)
    sql = sql_engine(settings, reader=True)
    try:
        out = io.StringIO()
        export_log(settings, sql, out)
        return out.getvalue()
    finally:
        sql.dispose()


def rechain(tables: StoreTables) -> None:
    """Recompute the whole chain table from the events as they now are: what someone
    who edits the history and knows the chain's definition, but not the key, can do."""
    events = [
        (p, a if isinstance(a, str) else a.hex, v, t, bytes(s))
        for p, a, v, t, s in tables.rows(
            f"SELECT {tables.position}, originator_id, originator_version, topic, state "
            f"FROM {tables.events} ORDER BY {tables.position}"
        )
    ]
    rows = chain_rows(EMPTY, events, {})
    tables.run(f"DELETE FROM {tables.chain}")
    with tables.connect() as conn:
        statement = f"INSERT INTO {tables.chain} ({CHAIN_COLUMNS}) VALUES (?,?,?,?,?,?,?)"
        if tables.sqlite:
            conn.executemany(statement, rows)
        else:
            conn.cursor().executemany(statement.replace("?", "%s"), rows)
