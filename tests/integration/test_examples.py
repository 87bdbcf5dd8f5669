"""The example subscriber, run on the relay's in-process transport."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

from salesengine.domain.values import Status
from salesengine.integration.relay import Relay
from salesengine.integration.subscriptions import InProcessTransport
from salesengine.persistence import store_settings
from salesengine.projecting import sql_engine
from tests.integration.relay_support import seed_demo

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "live_stage_counts.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("live_stage_counts", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_live_stage_counts_equal_the_open_deals_per_stage(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    engine = seed_demo(db, seed=5)
    sql = sql_engine(store_settings(db))
    counts = load_example().StageCounts()
    try:
        asyncio.run(Relay(engine, sql, InProcessTransport(counts.subscriptions)).run())
        states = [engine.deal_state(key) for key in engine.deal_keys()]
    finally:
        sql.dispose()
        engine.close()
    expected = Counter((s.policy, s.stage) for s in states if s.status is Status.OPEN)
    assert sum(expected.values()) > 50
    assert counts.counts() == expected
