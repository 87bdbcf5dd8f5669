"""For any history, written command by command or in batches: an untampered store
verifies, and the standalone verifier on its export reaches the engine's verdict; one
column of one event changed is always found, by both, at that position."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from tests.support.audit import StoreTables, both_verdicts
from tests.support.clock import Clock
from tests.support.commands import FIVE_LEVEL_OPENING, cmd
from tests.support.stores import fresh_db

DEALS = ("A", "B", "C", "D")
# one step: (deal, what, value); a batch is a list of steps saved in one transaction
steps = st.tuples(
    st.sampled_from(DEALS), st.sampled_from(("amount", "visit")), st.integers(1, 10**6)
)
histories = st.lists(st.lists(steps, min_size=1, max_size=6), min_size=1, max_size=6)


def command(deal: str, what: str, value: int) -> Any:
    if what == "amount":
        return cmd(cmd="amount", deal=deal, amount=str(value))
    return cmd(cmd="visit", deal=deal, id=f"v{value}")


def write(engine: SalesEngine, batches: list[list[tuple[str, str, int]]]) -> None:
    opened = [
        (
            i,
            cmd(cmd="open", deal=d, policy="five-level", amount="1", facts=FIVE_LEVEL_OPENING),
            None,
        )
        for i, d in enumerate(DEALS)
    ]
    list(engine.execute_many(opened))
    for n, batch in enumerate(batches):
        if n % 2:
            for step in batch:
                engine.execute(command(*step))
        else:
            list(engine.execute_many((i, command(*s), None) for i, s in enumerate(batch)))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=histories, target=st.integers(0, 10**6), column=st.sampled_from(("state", "topic")))
def test_any_history_verifies_and_any_one_edit_is_found_by_both_verifiers(
    kind: str, tmp_path: Path, batches: list[list[tuple[str, str, int]]], target: int, column: str
) -> None:
    with fresh_db(kind, tmp_path) as url:
        engine = build_engine(url, clock=Clock(), actor="tester")
        try:
            write(engine, batches)
        finally:
            engine.close()
        in_store, standalone = both_verdicts(url)
        tables = StoreTables(url)
        count = len(tables.events_at())  # a repeated visit id or amount records nothing
        assert count >= len(DEALS)  # the openings at least
        assert in_store.report.holds and standalone.holds
        assert (in_store.report.size, in_store.report.root) == (count, standalone.root)
        position = tables.events_at()[target % count][0]
        change, params = ("topic || 'x'", ()) if column == "topic" else ("state || ?", (b" ",))
        tables.run(
            f"UPDATE {tables.events} SET {column} = {change} WHERE {tables.position} = {position}",
            params,
        )
        in_store, standalone = both_verdicts(url)
        assert in_store.report.findings == standalone.findings
        assert [(f.kind, f.position) for f in standalone.findings] == [("edited", position)]
