"""Shared option parsing: timestamps and the engine built from global options."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from pydantic import AwareDatetime, TypeAdapter

    from salesengine.application.engine import SalesEngine
    from salesengine.cli.worker_engines import EngineSpec
    from salesengine.policies.catalog import PolicyCatalog

# Every command module imports this one: pydantic, the engine and the policies are imported
# when first used, so that `--help` and commands that need none of them start faster.


@cache
def _aware() -> TypeAdapter[AwareDatetime]:
    from pydantic import AwareDatetime, TypeAdapter

    return TypeAdapter(AwareDatetime)


DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
FORMS = "ISO 8601 with offset, e.g. 2026-03-31T18:00:00+08:00, or a date, 2026-03-31"


def parse_time(value: str | None, option: str) -> datetime | None:
    """An instant of a command-line option: ISO 8601 with a UTC offset, or a plain date
    meaning the start of that day in UTC (docs/rules.md, "Instants on the command
    line"). Every option that takes an instant reads it here, so all agree."""
    if value is None:
        return None
    from pydantic import ValidationError

    from salesengine.domain.values import ISO_START, outside_years

    if DAY.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError as e:
            raise typer.BadParameter(f"{value!r}: {e} ({FORMS})", param_hint=option) from None
        reason = outside_years(day)
        if reason is not None:
            raise typer.BadParameter(f"{value!r}: {reason}", param_hint=option)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    if not ISO_START.match(value):
        raise typer.BadParameter(
            f"{value!r}: not an ISO 8601 date and time ({FORMS})", param_hint=option
        )
    try:
        moment = _aware().validate_python(value)
    except ValidationError as e:
        reason = e.errors()[0]["msg"]
        raise typer.BadParameter(f"{value!r}: {reason} ({FORMS})", param_hint=option) from None
    try:  # the range holds in UTC, as it does for the command language
        outside = outside_years(moment.astimezone(UTC))
    except OverflowError:
        outside = outside_years(date.max)
    if outside is not None:
        raise typer.BadParameter(f"{value!r}: {outside}", param_hint=option)
    return moment


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
