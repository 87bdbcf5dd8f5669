"""Random multi-deal histories with both clocks moving, and the read models built from them.

Every report is checked against a brute-force computation over the raw events: the
deals are loaded from the store and replayed with ``Deal.state_at(T, K)`` or their
timelines, following docs/metrics.md literally.
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from sqlalchemy import Engine

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.domain.deal import Deal
from salesengine.domain.errors import SalesEngineError
from salesengine.domain.policy import FunnelPolicy
from salesengine.policies.catalog import PolicyCatalog
from salesengine.projections.runner import ProjectionRunner
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.clock import T0, Clock
from tests.support.commands import SEED_POLICIES, cmd

CATALOG = PolicyCatalog()
# The seed policies; the import policies (bpi2012, maven) are exercised by their imports.
POLICIES: dict[str, FunnelPolicy] = {name: CATALOG.get(name) for name in SEED_POLICIES}


def _edited_catalog() -> PolicyCatalog:
    """The seed policy files with other probabilities, as if edited between commands."""
    directory = Path(tempfile.mkdtemp(prefix="edited-policies-"))
    atexit.register(shutil.rmtree, directory, True)
    for name in SEED_POLICIES:
        text = CATALOG.source(name).read_text(encoding="utf-8")
        text = re.sub(
            r"^probability = (\d+)$",
            lambda m: f"probability = {(int(m[1]) * 3 + 7) % 101}",
            text,
            flags=re.MULTILINE,
        )
        text = re.sub(r"^won_probability = \d+$", "won_probability = 95", text, flags=re.M)
        (directory / f"{name}.toml").write_text(text, encoding="utf-8")
    return PolicyCatalog([directory])


EDITED = _edited_catalog()
# Every version the histories decide under, by (policy, fingerprint): the oracle's own
# record of the probabilities in force, independent of what the store keeps.
VERSIONS: dict[tuple[str, str], FunnelPolicy] = {
    (p.name, p.fingerprint): p for c in (CATALOG, EDITED) for p in (c.get(n) for n in SEED_POLICIES)
}
EDIT = "edit-policies"  # a step that swaps the policy files (the catalog) in force
OWNERS = ("Li Wei", "王芳", "anna")
TEAMS = ("east", "north")
KINDS = (
    "fact", "fact", "fact", "fact", "retract", "advance", "advance", "advance", "regress",
    "visit", "next_step", "next_step", "done", "amount", "expected_close", "owner",
    "won", "lost", "abandon", "reopen",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Step:
    """One command, and how far the recording clock moves before it is applied."""

    tick_minutes: int
    command: dict[str, Any]


def _criteria(policy: str) -> list[str]:
    spec = POLICIES[policy]
    return sorted({c.key for s in spec.stages for c in s.criteria if c.source == "fact"})


@st.composite
def deal_commands(draw: st.DrawFn, key: str, start: datetime) -> list[dict[str, Any]]:
    policy = draw(st.sampled_from(sorted(POLICIES)))
    spec = POLICIES[policy]
    stages = list(spec.stage_keys)
    facts = _criteria(policy)
    opening: dict[str, Any] = {
        "cmd": "open",
        "deal": key,
        "policy": policy,
        "at": start,
        "owner": draw(st.sampled_from(OWNERS)),
        "team": draw(st.sampled_from(TEAMS)),
        "facts": {c.key: True for c in spec.first_stage.criteria},
    }
    if draw(st.booleans()):
        opening["amount"] = str(draw(st.integers(0, 2_000_000)))
    if draw(st.booleans()):
        opening["expected_close"] = (
            (start + timedelta(days=draw(st.integers(0, 300)))).date().isoformat()
        )
    commands = [opening]
    at = start
    for _ in range(draw(st.integers(0, 14))):
        # Mostly forward, sometimes backdated (some refused for it: that is part of the test).
        at = at + timedelta(hours=draw(st.integers(-48, 200)))
        kind = draw(st.sampled_from(KINDS))
        c: dict[str, Any] = {"cmd": kind, "deal": key, "at": at}
        if kind in ("fact", "retract"):
            c["name"] = draw(st.sampled_from(facts))
        elif kind in ("advance", "regress", "reopen"):
            c["to"] = draw(st.sampled_from(stages))
            if kind == "regress":
                c["reason"] = "re-qualify"
        elif kind == "next_step":
            c["action"] = "call the CFO"
            c["due"] = (at + timedelta(days=draw(st.integers(-3, 30)))).isoformat()
        elif kind == "amount":
            c["amount"] = str(draw(st.integers(0, 2_000_000)))
        elif kind == "expected_close":
            c["expected_close"] = (
                (at + timedelta(days=draw(st.integers(-10, 300)))).date().isoformat()
            )
        elif kind == "visit":
            c["effective"] = draw(st.booleans())
        elif kind == "owner":
            c["owner"] = draw(st.sampled_from(OWNERS))
            c["team"] = draw(st.sampled_from(TEAMS))
        commands.append(c)
    return commands


DealCommands = Callable[[str, datetime], st.SearchStrategy[list[dict[str, Any]]]]


def several_deals(
    draw: st.DrawFn, deal: DealCommands, max_deals: int, start_days: int
) -> list[Step]:
    """Up to ``max_deals`` deals drawn from ``deal``, each starting within ``start_days``
    days of T0, their commands interleaved in recording order."""
    queues = []
    for n in range(draw(st.integers(1, max_deals))):
        start = T0 + timedelta(days=draw(st.integers(0, start_days)))
        queues.append(draw(deal(f"deal-{n}", start)))
    return interleave(draw, queues)


@st.composite
def histories(draw: st.DrawFn, max_deals: int = 5) -> list[Step]:
    """Several deals under random policies, their commands interleaved in recording order."""
    return several_deals(draw, deal_commands, max_deals, 120)


def interleave(draw: st.DrawFn, queues: list[list[dict[str, Any]]]) -> list[Step]:
    """The deals' commands in a random recording order, each deal's own order kept, with
    the recording clock moving by a random step before each."""
    steps: list[Step] = []
    while any(queues):
        queue = draw(st.sampled_from([q for q in queues if q]))
        steps.append(Step(draw(st.sampled_from([0, 1, 7, 60, 1440])), queue.pop(0)))
    return steps


RECORDING_START = T0 + timedelta(days=400)


@dataclass
class Built:
    engine: SalesEngine
    sql: Engine
    runner: ProjectionRunner
    recorded: list[datetime]  # the recording clock at each applied command

    def deals(self) -> list[Deal]:
        return [self.engine.load(key) for key in self.engine.deal_keys()]

    def effective_times(self) -> list[datetime]:
        return sorted({e.effective_at for d in self.deals() for e in d.timeline})


@st.composite
def with_edits(draw: st.DrawFn, steps: st.SearchStrategy[list[Step]]) -> list[Step]:
    """The steps with the policy files edited (and edited back) between some of them."""
    drawn = list(draw(steps))
    for _ in range(draw(st.integers(0, 3))):
        where = draw(st.integers(0, len(drawn)))
        drawn.insert(where, Step(draw(st.sampled_from([0, 1, 60])), {"cmd": EDIT}))
    return drawn


def apply_history(engine: SalesEngine, clock: Clock, steps: list[Step]) -> list[datetime]:
    recorded = []
    for step in steps:
        clock.tick(minutes=step.tick_minutes)
        c = step.command
        if c["cmd"] == EDIT:
            engine.catalog = EDITED if engine.catalog is not EDITED else CATALOG
            continue
        if isinstance(c.get("at"), datetime) and c["at"] > clock.now:
            c = {**c, "at": clock.now}  # never post-dated: the property is about the past
        try:
            engine.execute(cmd(**c))
            recorded.append(clock.now)
        except SalesEngineError:
            pass
    return recorded


@contextmanager
def built(db: str, steps: list[Step], *, window: int = 7) -> Iterator[Built]:
    """Apply the history to a fresh store and catch the read models up (in small batches)."""
    clock = Clock(RECORDING_START)
    engine = build_engine(db, clock=clock, actor="prop")
    sql = sql_engine(store_settings(db))
    try:
        recorded = apply_history(engine, clock, steps)
        runner = ProjectionRunner(engine, sql, window=window)
        runner.catch_up()
        yield Built(engine, sql, runner, recorded)
    finally:
        sql.dispose()
        engine.close()


def instants(data: st.DataObject, built_: Built) -> tuple[datetime, datetime | None]:
    """A (T, K) pair that lands on, between and around the history's own instants."""
    effective = built_.effective_times() or [T0]
    t = data.draw(st.sampled_from(effective)) + timedelta(
        minutes=data.draw(st.sampled_from([-1, 0, 0, 1, 600]))
    )
    recorded = built_.recorded or [RECORDING_START]
    k_choice = data.draw(st.sampled_from(["none", "exact", "between", "before"]))
    if k_choice == "none":
        return t, None
    k = data.draw(st.sampled_from(recorded))
    if k_choice == "between":
        k += timedelta(seconds=30)
    elif k_choice == "before":
        k -= timedelta(seconds=1)
    return t, k
