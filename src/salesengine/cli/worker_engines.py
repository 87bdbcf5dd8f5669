"""What import workers build their own engines from: the global options, picklable."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.store.settings import store_settings


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """The store and options of the engine each import worker builds for itself
    (engines do not cross processes); an ``importing.workers.EngineFactory``."""

    db: str | None
    policy_paths: tuple[Path, ...] = ()
    actor: str | None = None

    @property
    def in_one_process(self) -> bool:
        """An in-memory SQLite store lives in one process: workers would each get their own."""
        settings = store_settings(self.db)
        name = settings.env.get("SQLITE_DBNAME", "")
        return settings.kind == "sqlite" and (":memory:" in name or "mode=memory" in name)

    def __call__(self) -> SalesEngine:
        return build_engine(self.db, policy_paths=self.policy_paths, actor=self.actor)
