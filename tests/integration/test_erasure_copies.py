"""Copies of personal data outside the events table, which an erasure would not reach:
the read models, the relay's positions, the audit chain and checkpoints, the webhook
failures table, the subjects' keys table, and the events' command digests. On SQLite
and PostgreSQL.

Each place that should hold no personal value in plain is checked for every one of
them; a place that does is an expected failure, saying why.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from salesengine.application.account_commands import parse_account_command
from salesengine.application.accounts import Accounts
from salesengine.application.commands import command_digest
from salesengine.application.engine import SalesEngine
from salesengine.application.erasure import erase
from salesengine.audit.keys import SignerKey
from salesengine.audit.verify import make_checkpoint
from salesengine.domain.account import Account
from salesengine.domain.personal import ERASED
from salesengine.integration.relay import Relay
from salesengine.integration.subscriptions import InProcessTransport, Subscriptions
from salesengine.projections.base import metadata as read_model_tables
from salesengine.store.personal_keys import KEYS_TABLE
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.cli_runner import salesengine
from tests.support.personal_data import (
    ALL_VALUES,
    D1_VISIT_NOTE,
    ERASED_VALUES,
    IGNATIUS,
    MARTA,
    PLAIN_VALUES,
    PRIYA,
    erase_all,
    events_table,
    read_models,
    table_cells,
    where_found,
    write_personal_history,
)
from tests.support.relay import expected_messages
from tests.support.stores import StoreFactory
from tests.support.webhook import ReceiverProcess, receiver

__all__ = ["receiver"]  # a fixture

Tables = dict[str, dict[str, bytes]]


@pytest.fixture
def engine(make_engine: StoreFactory) -> SalesEngine:
    engine = make_engine()
    write_personal_history(engine)
    return engine


@pytest.fixture
def sql(store_url: str, engine: SalesEngine) -> Iterator[Engine]:
    del engine  # the store is written first
    found = sql_engine(store_settings(store_url))
    yield found
    found.dispose()


@pytest.fixture
def busy(engine: SalesEngine, store_url: str, sql: Engine) -> SalesEngine:
    """The store with what its other users write beside the events: the read models
    caught up, a relay's position, a signed checkpoint."""
    with read_models(engine, store_url) as models:
        models.caught_up()
    asyncio.run(Relay(engine, sql, InProcessTransport(Subscriptions())).run())
    made, _ = make_checkpoint(store_settings(store_url), sql, SignerKey.generate("auditor"))
    assert made is not None
    return engine


def values_in(tables: Tables, chosen: Callable[[str], bool] | None = None) -> dict[str, list[str]]:
    """The personal values found in the tables (the ``chosen`` ones), and where."""
    cells = {
        f"{table}.{column}": data
        for table, columns in tables.items()
        if chosen is None or chosen(table)
        for column, data in columns.items()
    }
    return where_found(cells, ALL_VALUES)


PLACES: dict[str, Callable[[str], bool]] = {
    "read models": lambda t: t in read_model_tables.tables,
    "relay positions": lambda t: t == "relay_positions",
    "audit chain and checkpoints": lambda t: t.startswith("salesengine_audit"),
    "every other table": lambda t: (
        t not in read_model_tables.tables
        and t not in ("relay_positions", KEYS_TABLE)
        and not t.startswith("salesengine_audit")
    ),
}


@pytest.mark.parametrize("place", sorted(PLACES))
def test_no_personal_value_is_kept_in_plain_beside_the_events(
    busy: SalesEngine, store_url: str, place: str
) -> None:
    tables = table_cells(store_url)
    chosen = PLACES[place]
    assert any(chosen(t) for t in tables), f"no table of {place}"
    assert values_in(tables, chosen) == {}
    if place == "read models":
        # The scan reads them: their text is there, that of fields that are not personal.
        cells = {t: c for t, c in tables.items() if chosen(t)}
        found = where_found({t: b"".join(c.values()) for t, c in cells.items()}, PLAIN_VALUES)
        assert set(found) >= {"call the Kestrel CFO", "price-too-high-Plover"}
    if place == "every other table":
        assert events_table(store_url) in tables  # the events: sealed, checked elsewhere


def test_the_keys_table_names_the_people_written_on_meetings_until_they_are_erased(
    busy: SalesEngine, store_url: str
) -> None:
    # A person written by name among a meeting's attendees is a subject labelled with
    # that name, so that "person:NAME" finds it; contacts are labelled by their key.
    in_keys = values_in(table_cells(store_url), lambda t: t == KEYS_TABLE)
    assert set(in_keys) == {IGNATIUS, MARTA, PRIYA}
    erase_all(busy)
    in_keys = values_in(table_cells(store_url), lambda t: t == KEYS_TABLE)
    assert set(in_keys) == {MARTA, PRIYA}
    assert values_in(table_cells(store_url)).keys() == {MARTA, PRIYA}


def relay_to_webhook(
    store_url: str, receiver: ReceiverProcess, tmp_path: Path, **plan: object
) -> None:
    secret = tmp_path / "webhook.secret"
    env = {"SALESENGINE_DB": store_url, "SALESENGINE_ACTOR": "t"}
    made = salesengine("webhook", "new-secret", str(secret), env=env)
    assert made.returncode == 0, made.stderr
    receiver.start(**plan)
    run = salesengine(
        "relay", "--webhook", receiver.url, "--secret-file", str(secret), "--once",
        "--name", "hook", env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def d1_visit_position(engine: SalesEngine, sql: Engine) -> int:
    return next(
        m.position
        for m in expected_messages(engine, sql)
        if m.type == "deal.visit_logged" and m.deal == "D1"
    )


def failures(store_url: str) -> Tables:
    return {t: c for t, c in table_cells(store_url).items() if t == "salesengine_webhook_failures"}


@pytest.mark.slow
def test_a_refused_webhook_delivery_is_kept_without_personal_values(
    engine: SalesEngine, store_url: str, sql: Engine, receiver: ReceiverProcess, tmp_path: Path
) -> None:
    refused = d1_visit_position(engine, sql)
    relay_to_webhook(store_url, receiver, tmp_path, refuse=[refused])
    kept = failures(store_url)
    # A visit carries personal data: its refusal keeps the answer's length, not its text.
    response = kept["salesengine_webhook_failures"]["response"]
    assert b"not wanted here" not in response
    assert b"withheld: the event carries personal data" in response
    assert values_in(kept) == {}


@pytest.mark.slow
def test_a_refusal_that_quotes_the_event_keeps_no_erased_value(
    engine: SalesEngine, store_url: str, sql: Engine, receiver: ReceiverProcess, tmp_path: Path
) -> None:
    refused = d1_visit_position(engine, sql)
    relay_to_webhook(store_url, receiver, tmp_path, refuse_echo=[refused])
    erase_all(engine)
    kept = failures(store_url)
    response = kept["salesengine_webhook_failures"]["response"]
    assert b"cannot take this event" not in response
    assert b"withheld: the event carries personal data" in response
    assert values_in(kept) == {}


def test_after_erasure_an_events_command_digest_confirms_no_guess(
    engine: SalesEngine,
) -> None:
    accounts = Accounts(engine)
    written = {
        "cmd": "contact_add", "id": "crm-4711", "account": "ACME", "contact": "c9",
        "name": "Jane Quill", "title": "CFO", "role": "policy_maker", "support": 0,
    }  # fmt: skip
    assert accounts.execute(parse_account_command(written)).status == "applied"
    erase(engine, "contact:ACME/c9", actor="dpo")
    added = next(
        e
        for e in accounts.events("ACME").timeline
        if isinstance(e, Account.ContactAdded) and e.contact == "c9"
    )
    assert (added.name, added.title) == (ERASED, ERASED)
    # What anyone who reads the store can try: the event's readable fields, and guesses.
    confirmed = []
    for name in ("John Quill", "Jane Quill", "Jane Doe"):
        for title in ("CEO", "CFO", "CIO"):
            for at in (None, added.effective_at.isoformat()):
                guess = {
                    "cmd": "contact_add", "id": added.command_id, "account": "ACME",
                    "contact": added.contact, "name": name, "title": title, "role": added.role,
                    "support": added.support, "reports_to": added.reports_to, "at": at,
                }  # fmt: skip
                digest = command_digest(parse_account_command(guess))
                if digest == added.command_digest:
                    confirmed.append((name, title))
    assert confirmed == []


def test_the_erasure_events_and_the_audit_export_hold_no_personal_value(
    busy: SalesEngine, store_url: str
) -> None:
    from tests.support.audit import export_text

    assert where_found({"export": export_text(store_url).encode()}, ALL_VALUES) == {}
    erase_all(busy)
    exported = export_text(store_url)
    assert where_found({"export": exported.encode()}, ALL_VALUES) == {}
    assert "Erasure.Recorded" in exported and D1_VISIT_NOTE not in exported
    assert json.loads(exported.splitlines()[0])["kind"] == "header"
    assert [v for v in ERASED_VALUES if v in exported] == []
