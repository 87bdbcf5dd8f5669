"""After an erasure, every reader shows an erased value as ``[erased]``, never as an
error: the deal's history (engine and command line), the account, the XES, CSV and
Parquet exports, the relay (in process and through NATS), the webhook relay's
deliveries and the API. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine

from salesengine.application.engine import SalesEngine
from salesengine.domain.personal import ERASED
from salesengine.exporting.tables import export_tables
from salesengine.exporting.xes import export_xes
from salesengine.integration.contract import IntegrationEvent
from salesengine.integration.relay import Relay
from salesengine.integration.subscriptions import InProcessTransport
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.cli_runner import salesengine
from tests.support.clock import Clock
from tests.support.personal_data import (
    D1_DONE_NOTE,
    D1_EVIDENCE,
    D1_VISIT_NOTE,
    D2_DONE_NOTE,
    D2_VISIT_NOTE,
    D3_COMPETITION,
    ERASED_VALUES,
    IGNATIUS,
    MARTA,
    ORSON,
    ORSON_LEFT,
    ORSON_TITLE,
    PRIYA,
    erase_all,
    write_personal_history,
)
from tests.support.relay import by_deal, collecting, expected_messages, relay_to_subscribers
from tests.support.stores import StoreFactory
from tests.support.webhook import ReceiverProcess, receiver

__all__ = ["receiver"]  # a fixture

# What the deals' readers show of the values not erased.
DEALS_KEPT = (MARTA, PRIYA, D2_VISIT_NOTE, D2_DONE_NOTE, D3_COMPETITION)
ACME_KEPT = (ORSON, ORSON_TITLE, ORSON_LEFT)


@pytest.fixture
def engine(make_engine: StoreFactory) -> SalesEngine:
    engine = make_engine()
    write_personal_history(engine)
    erase_all(engine)
    return engine


@pytest.fixture
def sql(store_url: str, engine: SalesEngine) -> Iterator[Engine]:
    del engine  # the store is written first
    found = sql_engine(store_settings(store_url))
    yield found
    found.dispose()


def shows_erased(text: str, kept: tuple[str, ...]) -> None:
    """``text`` (a reader's whole output) shows the erased values as erased, and the
    values of subjects not erased as written."""
    found = [value for value in ERASED_VALUES if value in text]
    assert found == [], f"erased values shown: {found}"
    assert ERASED in text
    missing = [value for value in kept if value not in text]
    assert missing == [], f"values not erased, not shown: {missing}"
    assert "decrypt" not in text.lower() and "invalidtag" not in text.lower()


def cli(url: str, *args: str) -> Any:
    run = salesengine(*args, env={"SALESENGINE_DB": url, "SALESENGINE_ACTOR": "t"})
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


# -------------------------------------------------------------------------- history


def test_the_deals_history_shows_each_erased_value_as_erased(engine: SalesEngine) -> None:
    entries = {e.type: e.data for e in engine.history("D1").events}
    assert entries["VisitLogged"]["attendees"] == [ERASED, MARTA]
    assert entries["VisitLogged"]["note"] == ERASED
    assert entries["KeyInfoRecorded"]["details"] == {"problems": ERASED, "modules": ERASED}
    assert entries["KeyInfoRecorded"]["evidence"] == ERASED
    assert entries["NextStepCompleted"]["note"] == ERASED
    assert entries["NextStepSet"]["action"] == "call the Kestrel CFO"  # not personal
    d3 = {e.type: e.data for e in engine.history("D3").events}
    assert d3["VisitLogged"]["attendees"] == [ERASED] and d3["VisitLogged"]["note"] == ERASED
    assert d3["KeyInfoRecorded"]["details"]["why"] == D3_COMPETITION
    d2 = {e.type: e.data for e in engine.history("D2").events}
    assert (d2["VisitLogged"]["attendees"], d2["VisitLogged"]["note"]) == ([PRIYA], D2_VISIT_NOTE)
    assert d2["NextStepCompleted"]["note"] == D2_DONE_NOTE
    # The deal's state: its key information reads erased too.
    info = engine.deal_state("D1").key_info["requirement"]
    assert info.evidence == ERASED and dict(info.details) == {
        "problems": ERASED,
        "modules": ERASED,
    }


@pytest.mark.slow
def test_the_history_commands_show_erased_values_as_erased(
    engine: SalesEngine, store_url: str
) -> None:
    del engine
    deals = [cli(store_url, "history", key, "--json") for key in ("D1", "D2", "D3")]
    shows_erased(json.dumps(deals, ensure_ascii=False), DEALS_KEPT)
    acme = cli(store_url, "account", "history", "ACME", "--json")
    shows_erased(json.dumps(acme, ensure_ascii=False), ACME_KEPT)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "kept"),
    [
        (("history", "D1"), (MARTA,)),
        (("account", "show", "ACME", "--json"), (ORSON, ORSON_TITLE)),
        (("account", "show", "ACME"), (ORSON,)),
        (("account", "chain", "ACME", "--json"), (ORSON,)),
        (("account", "history", "ACME"), (ORSON,)),
    ],
)
def test_the_command_lines_readers_show_erased_values_as_erased(
    engine: SalesEngine, store_url: str, args: tuple[str, ...], kept: tuple[str, ...]
) -> None:
    del engine
    run = salesengine(*args, env={"SALESENGINE_DB": store_url, "SALESENGINE_ACTOR": "t"})
    assert run.returncode == 0, run.stderr
    shows_erased(run.stdout, kept)


# -------------------------------------------------------------------------- exports


def test_the_xes_csv_and_parquet_exports_show_erased_values_as_erased(
    engine: SalesEngine, clock: Clock, tmp_path: Path
) -> None:
    now = clock.now
    export_xes(engine, tmp_path / "deals.xes", now, now)
    shows_erased((tmp_path / "deals.xes").read_text(encoding="utf-8"), DEALS_KEPT)
    export_tables(engine, tmp_path / "csv", "csv", now, now)
    shows_erased((tmp_path / "csv" / "events.csv").read_text(encoding="utf-8"), DEALS_KEPT)
    export_tables(engine, tmp_path / "parquet", "parquet", now, now)
    rows = pq.read_table(tmp_path / "parquet" / "events.parquet").to_pylist()
    shows_erased(json.dumps(rows, default=str, ensure_ascii=False), DEALS_KEPT)


# ---------------------------------------------------------------------------- relay


def by_type(messages: list[IntegrationEvent], deal: str) -> dict[str, dict[str, Any]]:
    return {m.type: m.model_dump(mode="json") for m in messages if m.deal == deal}


def test_the_relay_publishes_erased_values_as_erased(engine: SalesEngine, sql: Engine) -> None:
    subscriptions, collector = collecting()
    asyncio.run(Relay(engine, sql, InProcessTransport(subscriptions)).run())
    expected = expected_messages(engine, sql)
    assert by_deal(collector.events) == by_deal(expected) and len(expected) > 10
    shows_erased(json.dumps([m.model_dump(mode="json") for m in expected]), DEALS_KEPT)
    sent = by_type(collector.events, "D1")
    assert sent["deal.visit_logged"]["attendees"] == [ERASED, MARTA]
    assert sent["deal.visit_logged"]["note"] == ERASED
    assert sent["deal.key_info_recorded"]["details"] == {"problems": ERASED, "modules": ERASED}
    assert sent["deal.key_info_recorded"]["evidence"] == ERASED
    assert sent["deal.next_step_completed"]["note"] == ERASED


@pytest.mark.slow
def test_a_real_broker_carries_erased_values_as_erased(engine: SalesEngine, sql: Engine) -> None:
    expected = expected_messages(engine, sql)
    ours = {m.deal_id for m in expected}
    subscriptions, collector = collecting()

    def arrived() -> bool:
        return len({m.id for m in collector.events if m.deal_id in ours}) >= len(expected)

    relay_to_subscribers(
        "nats", engine, sql, subscriptions, arrived, group="erasure", what="every message"
    )
    received = {m.id: m for m in collector.events if m.deal_id in ours}
    assert by_deal(received.values()) == by_deal(expected)
    assert by_type(list(received.values()), "D3")["deal.visit_logged"]["attendees"] == [ERASED]
    shows_erased(json.dumps([m.model_dump(mode="json") for m in expected]), DEALS_KEPT)


# ------------------------------------------------------------------------- webhooks


@pytest.mark.slow
def test_the_webhook_relay_delivers_erased_values_as_erased(
    engine: SalesEngine,
    store_url: str,
    sql: Engine,
    receiver: ReceiverProcess,
    tmp_path: Path,
) -> None:
    owed = expected_messages(engine, sql)
    secret = tmp_path / "webhook.secret"
    env = {"SALESENGINE_DB": store_url, "SALESENGINE_ACTOR": "t"}
    made = salesengine("webhook", "new-secret", str(secret), env=env)
    assert made.returncode == 0, made.stderr
    receiver.start()
    run = salesengine(
        "relay", "--webhook", receiver.url, "--secret-file", str(secret), "--once",
        "--name", "hook", env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    bodies = [a.event for a in receiver.attempts() if a.status == 200]
    assert sorted(b["id"] for b in bodies) == sorted(str(m.id) for m in owed)
    shows_erased(json.dumps(bodies, ensure_ascii=False), DEALS_KEPT)
    visits = [b for b in bodies if b["type"] == "deal.visit_logged"]
    assert sorted(map(json.dumps, (v["attendees"] for v in visits))) == sorted(
        map(json.dumps, ([ERASED, MARTA], [PRIYA], [ERASED]))
    )
    assert IGNATIUS not in run.stdout + run.stderr
    assert D1_VISIT_NOTE not in run.stdout and D1_EVIDENCE not in run.stdout
    assert D1_DONE_NOTE not in run.stdout
