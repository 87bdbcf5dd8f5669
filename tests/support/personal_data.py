"""A store holding personal data of every kind (docs/privacy.md), the subjects a test
erases from it, the figures erasure must leave alone, and every byte the store keeps.

Each personal value is a distinct phrase that appears nowhere else, so that a search of
the store's bytes for it finds the value itself or nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import psycopg
from sqlalchemy import Engine

from salesengine.application.account_commands import parse_account_command
from salesengine.application.accounts import Accounts
from salesengine.application.engine import SalesEngine
from salesengine.application.erasure import Erased, erase
from salesengine.projections.runner import ProjectionRunner
from salesengine.reports.conversion import conversion
from salesengine.reports.cycle_time import cycle_time
from salesengine.reports.forecast import forecast
from salesengine.reports.funnel import funnel
from salesengine.store.personal_keys import KeySource
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.clock import T0
from tests.support.commands import FIVE_LEVEL_OPENING, cmd
from tests.support.histories import POLICIES
from tests.support.report_examples import CONTACTED

# --------------------------------------------------------------- the personal values

ZELDA = "Zelda Quixote-Amberline"  # contact c1 of ACME
ZELDA_TITLE = "Keeper of the Amber Lighthouse"
ORSON = "Orson Vantablack-Oyelaran"  # contact c2 of ACME, kept
ORSON_TITLE = "Marshal of Vantablack Procurement"
ORSON_LEFT = "left for Globex Plover-Wharf"
PRIYA = "Priya Halvorsen-Tenbury"  # contact b1 of BETA, and on D2's visit; kept
PRIYA_TITLE = "Head of Tenbury Ospreys"
IGNATIUS = "Ignatius Fernsby-Wolcott"  # a person on ACME's activity and D1's, D3's visits
MARTA = "Marta Kowalczyk-Ruizdael"  # a person on D1's visit, kept

ACME_BP_NOTE = "bp-note Kestrel budget confirmed by their CFO"
ACME_SOW_NOTE = "sow-note Heron wallet mostly with Initech"
ACME_ACTIVITY_NOTE = "act-note Quixote wants a pilot before the summer"
ACME_ACTIVITY_NOTE_2 = "act-note Vantablack pushes hard on pricing"
BETA_BP_NOTE = "bp-note Osprey capex frozen till Q3"
BETA_ACTIVITY_NOTE = "act-note Tenbury liked the osprey demo"

D1_VISIT_NOTE = "visit-note Fernsby drew the ledger flow on a whiteboard"
D1_PROBLEMS = "ki-problems Wolcott ledger reconciliation is manual"
D1_MODULE = "ki-module Amberline consolidation"
D1_EVIDENCE = "ki-evidence minutes of the Kestrel workshop"
D1_DONE_NOTE = "done-note Kestrel signed the NDA"
D2_VISIT_NOTE = "visit-note Halvorsen toured the osprey hangar"
D2_DONE_NOTE = "done-note Osprey asked for references"
D3_VISIT_NOTE = "visit-note lunch with Fernsby at the Wolcott arms"
D3_COMPETITION = "comp-why Plover-Wharf undercuts by a third"

# Erased by the four subjects of ERASURES, with every value sealed under one of them.
ERASED_VALUES = (
    ZELDA, ZELDA_TITLE, IGNATIUS, ACME_BP_NOTE, ACME_SOW_NOTE, ACME_ACTIVITY_NOTE,
    ACME_ACTIVITY_NOTE_2, D1_VISIT_NOTE, D1_PROBLEMS, D1_MODULE, D1_EVIDENCE, D1_DONE_NOTE,
    D3_VISIT_NOTE,
)  # fmt: skip
# Sealed under subjects none of ERASURES names: still readable afterwards.
KEPT_VALUES = (
    ORSON, ORSON_TITLE, ORSON_LEFT, PRIYA, PRIYA_TITLE, MARTA, BETA_BP_NOTE,
    BETA_ACTIVITY_NOTE, D2_VISIT_NOTE, D2_DONE_NOTE, D3_COMPETITION,
)  # fmt: skip
ALL_VALUES = ERASED_VALUES + KEPT_VALUES
# Not personal (domain/personal.py): stored as written, readable before and after.
PLAIN_VALUES = ("call the Kestrel CFO", "price-too-high-Plover", "decision_maker", "ACME")

ERASURES = ("contact:ACME/c1", f"person:{IGNATIUS}", "deal:D1", "account:ACME")


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def account_commands() -> list[dict[str, Any]]:
    def at(n: float) -> str:
        return day(n).isoformat()

    return [
        {"cmd": "account_open", "account": "ACME", "owner": "ann", "team": "north", "at": at(-5)},
        {"cmd": "buying_power", "account": "ACME", "amount": "1500000", "currency": "EUR",
         "note": ACME_BP_NOTE, "at": at(-4)},
        {"cmd": "share_of_wallet", "account": "ACME", "percent": "30", "note": ACME_SOW_NOTE,
         "at": at(-4)},
        {"cmd": "contact_add", "account": "ACME", "contact": "c1", "name": ZELDA,
         "title": ZELDA_TITLE, "role": "decision_maker", "support": 2, "at": at(-3)},
        {"cmd": "contact_add", "account": "ACME", "contact": "c2", "name": ORSON,
         "title": ORSON_TITLE, "role": "influencer", "support": -1, "reports_to": "c1",
         "at": at(-3)},
        {"cmd": "activity", "account": "ACME", "kind": "seminar", "effective": True,
         "attendees": ["c1", IGNATIUS], "note": ACME_ACTIVITY_NOTE, "at": at(-2)},
        {"cmd": "activity", "account": "ACME", "kind": "call", "attendees": ["c2"],
         "note": ACME_ACTIVITY_NOTE_2, "at": at(-1)},
        {"cmd": "contact_left", "account": "ACME", "contact": "c2", "reason": ORSON_LEFT,
         "at": at(8)},
        {"cmd": "account_open", "account": "BETA", "owner": "bo", "team": "south", "at": at(-5)},
        {"cmd": "buying_power", "account": "BETA", "amount": "400000", "currency": "EUR",
         "note": BETA_BP_NOTE, "at": at(-4)},
        {"cmd": "contact_add", "account": "BETA", "contact": "b1", "name": PRIYA,
         "title": PRIYA_TITLE, "role": "decision_maker", "support": 1, "at": at(-3)},
        {"cmd": "activity", "account": "BETA", "kind": "visit", "attendees": ["b1"],
         "note": BETA_ACTIVITY_NOTE, "at": at(-2)},
    ]  # fmt: skip


def deal_commands() -> list[dict[str, Any]]:
    def opening(key: str, account: str, owner: str, amount: str, close: str) -> dict[str, Any]:
        team = "north" if owner == "ann" else "south"
        return {"cmd": "open", "deal": key, "policy": "five-level", "account": account,
                "owner": owner, "team": team, "amount": amount, "currency": "EUR",
                "expected_close": close, "facts": FIVE_LEVEL_OPENING, "at": day(0)}  # fmt: skip

    def contacted(key: str, at: float) -> list[dict[str, Any]]:
        facts = [{"cmd": "fact", "deal": key, "name": n, "at": day(at)} for n in CONTACTED]
        return [*facts, {"cmd": "advance", "deal": key, "to": "contacted", "at": day(at)}]

    return [
        opening("D1", "ACME", "ann", "120000", "2026-05-15"),
        opening("D2", "BETA", "bo", "45000", "2026-04-20"),
        opening("D3", "ACME", "ann", "80000", "2026-05-04"),
        {"cmd": "visit", "deal": "D1", "attendees": [IGNATIUS, MARTA], "note": D1_VISIT_NOTE,
         "effective": True, "at": day(1)},
        {"cmd": "key_info", "deal": "D1", "evidence": D1_EVIDENCE, "at": day(2),
         "info": {"topic": "requirement", "problems": D1_PROBLEMS, "modules": [D1_MODULE]}},
        {"cmd": "next_step", "deal": "D1", "action": "call the Kestrel CFO",
         "due": day(6).isoformat(), "at": day(2)},
        {"cmd": "done", "deal": "D1", "note": D1_DONE_NOTE, "at": day(4)},
        *contacted("D1", 5),
        {"cmd": "visit", "deal": "D2", "attendees": [PRIYA], "note": D2_VISIT_NOTE, "at": day(2)},
        {"cmd": "next_step", "deal": "D2", "action": "send references", "due": day(5).isoformat(),
         "at": day(2)},
        {"cmd": "done", "deal": "D2", "note": D2_DONE_NOTE, "at": day(3)},
        *contacted("D2", 4),
        {"cmd": "visit", "deal": "D3", "attendees": [IGNATIUS], "note": D3_VISIT_NOTE,
         "at": day(3)},
        {"cmd": "key_info", "deal": "D3", "at": day(3),
         "info": {"topic": "competition", "competitors": ["Plover"], "why": D3_COMPETITION}},
        *contacted("D3", 6),
        {"cmd": "lost", "deal": "D2", "reason": "price-too-high-Plover", "at": day(7)},
        {"cmd": "won", "deal": "D1", "at": day(9)},
    ]  # fmt: skip


def write_personal_history(engine: SalesEngine) -> None:
    """Two accounts with contacts, activities and notes; three deals with visits, key
    information and completed next steps, moved through stages (one won, one lost, one
    open): every command applies."""
    accounts = Accounts(engine)
    for raw in account_commands():
        result = accounts.execute(parse_account_command({**raw, "by": "setup"}))
        assert result.status == "applied", (raw, result)
    for raw in deal_commands():
        applied = engine.execute(cmd(**raw, by="rep"))
        assert applied.status == "applied", (raw, applied)


def stored_keys(engine: SalesEngine) -> dict[str, bytes]:
    """The subjects' keys the store keeps, by subject id."""
    source = cast(KeySource, engine.recorder)
    return {subject: key for subject, _, _, key in source.personal_keys()}


def erase_all(engine: SalesEngine) -> list[Erased]:
    return [erase(engine, subject, actor="dpo") for subject in ERASURES]


# --------------------------------------------------------------------- the figures


def figures(sql: Engine) -> dict[str, Any]:
    """The funnel, conversion, cycle-time and forecast reports, whole and grouped, at
    instants before, during and after the history."""
    found: dict[str, Any] = {}
    with sql.connect() as conn:
        for by in (None, "owner", "team"):
            for n in (0.5, 3, 5.5, 8, 30):
                found[f"funnel {by} {n}"] = funnel(conn, POLICIES, as_of=day(n), by=by)
                found[f"forecast {by} {n}"] = forecast(conn, POLICIES, as_of=day(n), by=by)
            for start, end in ((-1, 4), (0, 10), (4, 60)):
                found[f"conversion {by} {start}"] = conversion(
                    conn, POLICIES, start=day(start), end=day(end), by=by
                )
                found[f"cycle_time {by} {start}"] = cycle_time(
                    conn, POLICIES, start=day(start), end=day(end), by=by
                )
    return found


@dataclass
class ReadModels:
    sql: Engine
    runner: ProjectionRunner

    def caught_up(self) -> Engine:
        self.runner.catch_up()
        return self.sql

    def rebuilt(self) -> Engine:
        self.runner.rebuild()
        return self.sql


@contextmanager
def read_models(engine: SalesEngine, url: str) -> Iterator[ReadModels]:
    sql = sql_engine(store_settings(url))
    try:
        yield ReadModels(sql, ProjectionRunner(engine, sql))
    finally:
        sql.dispose()


# ------------------------------------------------------------------ the store's bytes


def events_table(url: str) -> str:
    return "stored_events" if "://" not in url else "salesengine_events"


def _pg(url: str) -> tuple[str, str]:
    base, _, schema = url.partition("?schema=")
    return base, schema


def event_states(url: str) -> list[bytes]:
    """The stored state of every event, as the store holds it."""
    statement = f"SELECT state FROM {events_table(url)}"
    if "://" not in url:
        with closing(sqlite3.connect(url)) as conn:
            return [bytes(r[0]) for r in conn.execute(statement)]
    base, schema = _pg(url)
    with psycopg.connect(base, options=f"-csearch_path={schema}") as pg:
        return [bytes(r[0]) for r in pg.execute(statement)]


def sqlite_files(path: str) -> dict[str, bytes]:
    """The database file and its write-ahead log (if any) after a checkpoint, as they
    are on disk while the store is open."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint")
        found = {}
        for name in (path, f"{path}-wal"):
            if Path(name).exists():
                found[name] = Path(name).read_bytes()
    return found


def postgres_cells(url: str) -> dict[str, bytes]:
    """Every text, JSON and binary cell of every table of the store's schema, by
    ``table.column``, joined with NUL bytes."""
    base, schema = _pg(url)
    found: dict[str, bytes] = {}
    with psycopg.connect(base) as pg:
        columns = pg.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND data_type IN "
            "('text', 'character varying', 'character', 'bytea', 'json', 'jsonb', 'ARRAY')",
            (schema,),
        ).fetchall()
        assert columns, f"no columns found in schema {schema}"
        for table, column, kind in columns:
            cast = "" if kind in ("bytea",) else "::text"
            rows = pg.execute(f'SELECT "{column}"{cast} FROM "{schema}"."{table}"').fetchall()
            cells = [
                bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode()
                for (v,) in rows
                if v is not None
            ]
            found[f"{table}.{column}"] = b"\0".join(cells)
    return found


def _bytes(value: object) -> bytes:
    if isinstance(value, (bytes, memoryview)):
        return bytes(value)
    return str(value).encode()


def table_cells(url: str) -> dict[str, dict[str, bytes]]:
    """Every cell of every table of the store, by table and column (cells joined with
    NUL bytes): what a query of the store's database can read."""
    if "://" in url:
        found: dict[str, dict[str, bytes]] = {}
        for where, data in postgres_cells(url).items():
            table, column = where.split(".", 1)
            found.setdefault(table, {})[column] = data
        return found
    found = {}
    with closing(sqlite3.connect(url)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
            found[table] = {
                column: b"\0".join(
                    _bytes(v) for (v,) in conn.execute(f'SELECT "{column}" FROM "{table}"')
                )
                for column in columns
            }
    return found


def store_bytes(url: str) -> dict[str, bytes]:
    """Everything the store keeps, by where: files (SQLite) or columns (PostgreSQL)."""
    return sqlite_files(url) if "://" not in url else postgres_cells(url)


def where_found(found: dict[str, bytes], values: tuple[str, ...]) -> dict[str, list[str]]:
    """Each value found, and where."""
    hits: dict[str, list[str]] = {}
    for value in values:
        needle = value.encode()
        places = [where for where, data in found.items() if needle in data]
        if places:
            hits[value] = places
    return hits


Scan = Callable[[str], dict[str, bytes]]
