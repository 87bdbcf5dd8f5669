"""Where a read-model rebuild that keeps the old version serving builds the new one:
beside the store, never in it.

- SQLite: a database file of its own next to the store's (``<store>.rebuild``);
- PostgreSQL: a schema of its own next to the store's (``<schema>_rebuild``).

Read models reach their tables by unqualified names, so a runner given the shadow's
settings writes the same tables there and keeps its own tracking positions there: a
build that stops part way resumes from them. ``projections.online_rebuild`` swaps the
finished tables in.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path

from salesengine.store.settings import StoreSettings, quoted_ident

SQLITE_SUFFIX = ".rebuild"
SCHEMA_SUFFIX = "_rebuild"


def live_schema(settings: StoreSettings) -> str:
    return settings.env["POSTGRES_SCHEMA"] or "public"


def shadow_settings(settings: StoreSettings) -> StoreSettings:
    env = dict(settings.env)
    if settings.kind == "sqlite":
        env["SQLITE_DBNAME"] = env["SQLITE_DBNAME"] + SQLITE_SUFFIX
        url = f"sqlite:///{env['SQLITE_DBNAME']}"
    else:
        env["POSTGRES_SCHEMA"] = live_schema(settings) + SCHEMA_SUFFIX
        url = settings.url + f" (schema {env['POSTGRES_SCHEMA']})"
    return replace(settings, url=url, env=env)


def shadow_files(shadow: StoreSettings) -> list[Path]:
    base = Path(shadow.env["SQLITE_DBNAME"])
    return [base, Path(f"{base}-wal"), Path(f"{base}-shm")]


def create_shadow_sql(shadow: StoreSettings) -> str | None:
    """The statement that makes the shadow's place (None: SQLite makes its file)."""
    if shadow.kind == "sqlite":
        return None
    return f"CREATE SCHEMA IF NOT EXISTS {quoted_ident(shadow.env['POSTGRES_SCHEMA'])}"


def drop_shadow_sql(shadow: StoreSettings) -> str | None:
    if shadow.kind == "sqlite":
        return None
    return f"DROP SCHEMA IF EXISTS {quoted_ident(shadow.env['POSTGRES_SCHEMA'])} CASCADE"


def remove_shadow_files(shadow: StoreSettings) -> None:
    if shadow.kind == "sqlite":
        for path in shadow_files(shadow):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
