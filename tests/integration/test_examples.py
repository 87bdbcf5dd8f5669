"""The example subscriber: what it prints is what ``salesengine funnel`` shows.

The store is the demo quarter with many more moves per deal (regressions and
re-advances, reopened outcomes, backdated amount corrections), so that each deal has
events on several subjects whose order between subjects a broker does not keep.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

from salesengine.bootstrap import build_engine
from salesengine.domain.values import Status
from salesengine.integration.relay import Relay
from salesengine.integration.subscriptions import InProcessTransport
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.brokers import NatsServer
from tests.support.cli_runner import run_cli
from tests.support.commands import cmd

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "live_stage_counts.py"
SETTLE_SECONDS = 90.0

StageDeals = Counter[tuple[str, str]]  # (policy, stage) -> open deals
StageAmounts = dict[tuple[str, str, str], Decimal]  # (policy, stage, currency) -> amount


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("live_stage_counts", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def churn(db: Path) -> int:
    """More moves for the demo's deals; how many commands were applied."""
    engine = build_engine(str(db), actor="tester")
    applied = 0
    try:
        now = datetime.now(UTC)
        for n, key in enumerate(sorted(engine.deal_keys())):
            state = engine.deal_state(key)
            policy = engine.catalog.get(state.policy)
            stages = policy.stage_keys
            commands = []
            # A deal whose stage's evidence was withdrawn since (the demo withdraws some)
            # could not enter it again: it is left as it is.
            criteria = policy.stage(state.stage).criteria if state.stage in stages else []
            evidenced = all(state.facts.get(c.key) for c in criteria if c.source == "fact")
            if state.status is Status.OPEN and state.stage != stages[0] and evidenced:
                back = stages[stages.index(state.stage) - 1]
                commands += [
                    cmd(deal=key, cmd="regress", to=back, reason="re-qualify"),
                    cmd(deal=key, cmd="advance", to=state.stage),
                ]
                if n % 2:
                    commands.append(cmd(deal=key, cmd="regress", to=back, reason="stalled"))
            elif state.status in (Status.LOST, Status.ABANDONED) and n % 2 == 0:
                commands.append(cmd(deal=key, cmd="reopen", to=stages[0], reason="came back"))
            if n % 4 == 0 and state.amount is not None:
                # Found out later: a different amount, in force since the deal opened.
                assert state.opened_at is not None
                since = min(state.opened_at + timedelta(hours=1), now)
                amount = str(state.amount + 1000)
                commands.append(cmd(deal=key, cmd="amount", amount=amount, at=since))
            for command in commands:
                applied += engine.execute(command).status == "applied"
    finally:
        engine.close()
    return applied


@pytest.fixture(scope="module")
def busy_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("busy") / "store.db"
    done = run_cli("demo", "--seed", "7", db=db)
    assert done.returncode == 0, done.stderr
    assert churn(db) > 200
    return db


def funnel(db: Path) -> tuple[StageDeals, StageAmounts]:
    """The open stages of ``salesengine funnel --json`` on the store."""
    done = run_cli("funnel", "--json", db=db)
    assert done.returncode == 0, done.stderr
    engine = build_engine(str(db), actor="tester")
    try:
        policies = [engine.catalog.get(name) for name in engine.catalog.names()]
        stages = {p.name: set(p.stage_keys) for p in policies}
    finally:
        engine.close()
    deals: StageDeals = Counter()
    amounts: StageAmounts = {}
    for row in json.loads(done.stdout)["rows"]:
        if row["stage"] not in stages[row["policy"]] or not row["deals"]:
            continue
        deals[row["policy"], row["stage"]] += row["deals"]
        if Decimal(row["amount"]):
            amounts[row["policy"], row["stage"], row["currency"]] = Decimal(row["amount"])
    return deals, amounts


def example_rows(rows: list[tuple[str, str, str, int, Decimal]]) -> tuple[StageDeals, StageAmounts]:
    deals: StageDeals = Counter()
    amounts: StageAmounts = {}
    for policy, stage, currency, n, amount in rows:
        deals[policy, stage] += n
        if currency != "-" and amount:
            amounts[policy, stage, currency] = amount
    return deals, amounts


def test_live_stage_counts_in_process_equal_the_funnel(busy_store: Path) -> None:
    engine = build_engine(str(busy_store), actor="tester")
    sql = sql_engine(store_settings(str(busy_store)))
    counts = load_example().StageCounts()
    try:
        asyncio.run(Relay(engine, sql, InProcessTransport(counts.subscriptions)).run())
    finally:
        sql.dispose()
        engine.close()
    expected = funnel(busy_store)
    assert sum(expected[0].values()) > 50
    assert example_rows(counts.rows()) == expected


def last_report(output: str) -> list[tuple[str, str, str, int, Decimal]] | None:
    """The rows of the last complete block the example printed (None: none yet)."""
    blocks = output.split("open deals at ")[1:]
    complete = [b for b in blocks if b.endswith("\n\n")]
    if not complete:
        return None
    rows = []
    for line in complete[-1].splitlines()[1:]:
        if line.strip():
            policy, stage, deals, amount, currency = line.split()
            rows.append((policy, stage, currency, int(deals), Decimal(amount)))
    return rows


def test_live_stage_counts_on_a_broker_equal_the_funnel(
    busy_store: Path, nats: NatsServer, tmp_path: Path
) -> None:
    relayed = run_cli("relay", "--broker", nats.url, "--once", db=busy_store)
    assert relayed.returncode == 0, relayed.stdout + relayed.stderr
    expected = funnel(busy_store)

    # The example as a user runs it: its own process, a consumer per event type.
    out = tmp_path / "example.out"
    with out.open("wb") as sink:
        example = subprocess.Popen(
            [
                sys.executable,
                str(EXAMPLE),
                nats.url,
                "--every",
                "0.5",
                "--group",
                f"test-{uuid.uuid4().hex[:8]}",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + SETTLE_SECONDS
        seen = None
        while time.monotonic() < deadline and example.poll() is None:
            rows = last_report(out.read_text(errors="replace"))
            seen = example_rows(rows) if rows is not None else None
            if seen == expected:
                break
            time.sleep(0.5)
    finally:
        example.terminate()
        try:
            example.wait(15)
        except subprocess.TimeoutExpired:
            example.kill()
            example.wait()
    assert seen == expected, out.read_text(errors="replace")[-3000:]
