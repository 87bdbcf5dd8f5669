"""Accounts in the engine's own event store, on SQLite and PostgreSQL: another writer
reads them, a stale write conflicts and is not stored, and the deal-side readers (read
models, the relay's log) pass account events by."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from salesengine.application.account_commands import parse_account_command
from salesengine.application.accounts import Accounts
from salesengine.application.commands import parse_command
from salesengine.domain.errors import ConcurrencyConflict
from salesengine.projections.runner import ProjectionRunner
from salesengine.store.notification_log import LogReader
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.clock import T0
from tests.support.stores import StoreFactory


def command(**fields: Any) -> Any:
    return parse_account_command(fields)


def test_accounts_written_by_one_engine_are_read_by_another(make_engine: StoreFactory) -> None:
    writer, reader = Accounts(make_engine()), Accounts(make_engine())
    writer.execute(command(cmd="account_open", account="ACME", owner="ann", at=T0.isoformat()))
    writer.execute(command(cmd="share_of_wallet", account="ACME", percent="55"))
    writer.execute(command(cmd="buying_power", account="ACME", amount="750000.50", currency="EUR"))
    state = reader.state("ACME")
    assert (state.owner, state.rad, state.bp_currency) == ("ann", "R2", "EUR")
    assert list(reader.keys()) == ["ACME"]


def test_a_stale_write_conflicts_and_stores_nothing(make_engine: StoreFactory) -> None:
    first, second = Accounts(make_engine()), Accounts(make_engine())
    first.execute(command(cmd="account_open", account="ACME", owner="ann", at=T0.isoformat()))
    stale = first.find("ACME")
    second.execute(command(cmd="grade", account="ACME", grade="A"))
    account, _ = first.decide(command(cmd="grade", account="ACME", grade="C"), stale)
    with pytest.raises(ConcurrencyConflict):
        first.commit(account)
    assert second.state("ACME").grade == "A"
    # The service itself retries against fresh state.
    first.execute(command(cmd="grade", account="ACME", grade="C"))
    assert second.state("ACME").grade == "C"


def test_deal_readers_pass_account_events_by(make_engine: StoreFactory, store_url: str) -> None:
    engine = make_engine()
    accounts = Accounts(engine)
    at = (T0 + timedelta(days=1)).isoformat()
    engine.execute(parse_command({"cmd": "open", "deal": "D1", "policy": "funnel-list",
                                  "account": "ACME", "at": at}))  # fmt: skip
    accounts.execute(command(cmd="account_open", account="ACME", owner="ann", at=at))
    accounts.execute(command(cmd="activity", account="ACME", kind="call"))
    engine.execute(parse_command({"cmd": "visit", "deal": "D1"}))
    log = LogReader(engine, {"Opened", "VisitLogged"})
    kinds = [type(event).__qualname__ for _, _, event in log.read(0, log.head())]
    assert kinds == ["Deal.Opened", "Deal.VisitLogged"]
    sql = sql_engine(store_settings(store_url))
    try:
        report = ProjectionRunner(engine, sql).catch_up()
        assert report.applied == 2
    finally:
        sql.dispose()
