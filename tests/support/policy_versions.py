"""A user's own policy ('acme', the five-level one renamed) edited between commands, and
engines on one store that each read the policy files as they are when it starts."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from sqlalchemy import Engine, text

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.domain.policy import FunnelPolicy
from salesengine.policies.catalog import PolicyCatalog
from salesengine.projections.runner import ProjectionRunner
from salesengine.store.kept_versions import POLICY_VERSIONS_TABLE
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.clock import Clock
from tests.support.commands import FIVE_LEVEL_OPENING, cmd

CONTACTED = ("decision_makers_identified", "key_needs_confirmed", "meetings_recorded")
FIVE_LEVEL = PolicyCatalog().source("five-level").read_text(encoding="utf-8")


def write_acme(folder: Path, identified: int, contacted: int) -> FunnelPolicy:
    """The five-level policy as a user's own 'acme', with the given probabilities."""
    folder.mkdir(exist_ok=True)
    toml = FIVE_LEVEL.replace('name = "five-level"', 'name = "acme"')
    toml = re.sub(r"^probability = 10$", f"probability = {identified}", toml, flags=re.M)
    toml = re.sub(r"^probability = 25$", f"probability = {contacted}", toml, flags=re.M)
    (folder / "acme.toml").write_text(toml, encoding="utf-8")
    return PolicyCatalog([folder]).get("acme")


class Store:
    """Engines on one store, each reading the policy files as they are when it starts
    (as each command line run does), and the read models."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url, self.folder, self.clock = url, folder, Clock()
        self.engines: list[SalesEngine] = []
        self.sql = sql_engine(store_settings(url))

    def engine(self) -> SalesEngine:
        engine = build_engine(self.url, clock=self.clock, policy_paths=[self.folder], actor="t")
        self.engines.append(engine)
        return engine

    def run(self, *commands: dict[str, Any]) -> None:
        engine = self.engine()
        for fields in commands:
            self.clock.tick(minutes=1)
            engine.execute(cmd(**fields))

    def project(self) -> Engine:
        ProjectionRunner(self.engines[-1], self.sql).catch_up()
        return self.sql

    def close(self) -> None:
        self.sql.dispose()
        for engine in self.engines:
            engine.close()


def opening(key: str, at: datetime, amount: str = "1000") -> dict[str, Any]:
    return {"cmd": "open", "deal": key, "policy": "acme", "at": at, "amount": amount,
            "facts": FIVE_LEVEL_OPENING}  # fmt: skip


def to_contacted(key: str, at: datetime) -> list[dict[str, Any]]:
    facts = [{"cmd": "fact", "deal": key, "name": n, "at": at} for n in CONTACTED]
    return [*facts, {"cmd": "advance", "deal": key, "to": "contacted", "at": at}]


MOVES = ("StageAdvanced", "StageRegressed", "Won", "Lost", "Abandoned", "Reopened")


def as_stored_before_versions(store: Store) -> None:
    """Make the store one written before policy versions were kept: no table of them
    (the next engine creates it empty), stage changes at class version 2 without one."""
    moves = {f"salesengine.domain.deal:Deal.{c}" for c in MOVES}
    recorder = store.engines[-1].recorder
    assert isinstance(recorder, SQLiteApplicationRecorder | PostgresApplicationRecorder)
    events = recorder.events_table_name
    with store.sql.begin() as conn:
        conn.execute(text(f"DROP TABLE {POLICY_VERSIONS_TABLE}"))
        rows = conn.execute(
            text(f"SELECT originator_id, originator_version, topic, state FROM {events}")
        ).all()
        for originator, version, topic, state in rows:
            if topic not in moves:
                continue
            old = orjson.loads(bytes(state))
            del old["policy_version"]
            old["class_version"] = 2
            conn.execute(
                text(
                    f"UPDATE {events} SET state = :s "
                    "WHERE originator_id = :o AND originator_version = :v"
                ),
                {"s": orjson.dumps(old), "o": originator, "v": version},
            )
