"""A report's earliest recorded instant counts the streams it reads: with the accounts'
(or the quotas') openings, it is the least recorded time of any deal event and of any
account (quota) event, whatever order the writers' clocks recorded them in; a report of
quotas alone counts no deal. Asked again on one connection, it reads only what is new."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from salesengine.application.account_commands import parse_account_command
from salesengine.application.accounts import Accounts
from salesengine.application.quota_commands import parse_quota_command
from salesengine.application.quotas import Quotas
from salesengine.reports.recorded import ACCOUNTS, QUOTAS, earliest_recorded
from tests.support.clock import T0
from tests.support.commands import FIVE_LEVEL_OPENING, cmd
from tests.support.properties import examples, store_property
from tests.support.stores import store_with_read_models

PROPERTY = store_property(examples(30))
WRITES = st.lists(
    st.tuples(st.sampled_from(["deal", "account", "quota"]), st.integers(0, 400)),
    min_size=1,
    max_size=8,
)


@PROPERTY
@given(writes=WRITES)
def test_the_earliest_recorded_instant_is_the_least_of_the_streams_read(
    kind: str, tmp_path: Path, writes: list[tuple[str, int]]
) -> None:
    with store_with_read_models(kind, tmp_path) as (engine, clock, catch_up):
        recorded: dict[str, list[datetime]] = {"deal": [], "account": [], "quota": []}
        for n, (family, hours) in enumerate(writes):
            clock.now = T0 + timedelta(days=30, hours=hours)
            if family == "deal":
                engine.execute(cmd(cmd="open", deal=f"D{n}", policy="five-level",
                                   at=T0, facts=FIVE_LEVEL_OPENING))  # fmt: skip
            elif family == "account":
                command = {"cmd": "account_open", "account": f"A{n}", "owner": "li",
                           "team": "east", "at": T0.isoformat()}  # fmt: skip
                Accounts(engine).execute(parse_account_command(command))
            else:
                command = {"cmd": "set_quota", "rep": f"r{n}", "team": "east",
                           "period": "2026", "amount": "100", "currency": "CNY",
                           "at": T0.isoformat()}  # fmt: skip
                Quotas(engine).execute(parse_quota_command(command))
            recorded[family].append(clock.now)
            # A connection of the pool, which keeps what it read the step before.
            with catch_up().connect() as conn:
                deals, accounts, quotas = recorded["deal"], recorded["account"], recorded["quota"]
                assert earliest_recorded(conn) == min(deals, default=None)
                assert earliest_recorded(conn, engine, ACCOUNTS) == min(
                    deals + accounts, default=None
                )
                assert earliest_recorded(conn, engine, QUOTAS, deals=False) == min(
                    quotas, default=None
                )
