"""Shared option parsing: timestamps and the engine built from global options."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from salesengine.application.engine import SalesEngine
    from salesengine.cli.worker_engines import EngineSpec
    from salesengine.policies.catalog import PolicyCatalog

# Every command module imports this one: pydantic, the engine and the policies are imported
# when first used, so that `--help` and commands that need none of them start faster.


def parse_time(value: str | None, option: str) -> datetime | None:
    """An instant of a command-line option (``application.instants.parse_instant``: ISO
    8601 with a UTC offset, or a plain date meaning the start of that day in UTC). Every
    option that takes an instant reads it here, so all agree."""
    if value is None:
        return None
    from salesengine.application.instants import parse_instant

    try:
        return parse_instant(value)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint=option) from None


@dataclass(slots=True)
class Globals:
    db: str | None = None
    actor: str | None = None
    policy_dirs: tuple[Path, ...] = ()
    _engine: SalesEngine | None = None

    def catalog(self) -> PolicyCatalog:
        """Policies alone: reading them never opens (or creates) the event store."""
        from salesengine.bootstrap import policy_catalog

        return policy_catalog(self.policy_dirs)

    def store_missing(self) -> str | None:
        """The SQLite file the store would be, if it is not there yet (else None)."""
        from salesengine.store.settings import store_settings

        settings = store_settings(self.db, creating=False)
        name = settings.env.get("SQLITE_DBNAME", "")
        in_memory = name == ":memory:" or name.startswith("file:")
        if settings.kind == "sqlite" and not in_memory and not Path(name).exists():
            return name
        return None

    def engine(self, *, create: bool = True) -> SalesEngine:
        """The engine on the store; ``create=False`` for a command that only reads: a
        store that does not exist is then an error (``StoreMissing``), never made."""
        if self._engine is None:
            from salesengine.bootstrap import build_engine

            self._engine = build_engine(
                self.db, policy_paths=self.policy_dirs, actor=self.actor, create=create
            )
        return self._engine

    def worker_engines(self) -> EngineSpec:
        """What each import worker builds its own engine from."""
        from salesengine.cli.worker_engines import EngineSpec

        return EngineSpec(self.db, self.policy_dirs, self.actor)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


STATE = Globals()
