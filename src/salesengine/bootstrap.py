"""The composition root: concrete classes wired from settings, never at import time."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable
from pathlib import Path

from salesengine.application.engine import Clock, SalesEngine, utc_now
from salesengine.persistence import RecorderPositions, store_settings
from salesengine.policies.catalog import PolicyCatalog, policy_dirs

ACTOR_ENV = "SALESENGINE_ACTOR"


def default_actor() -> str:
    actor = os.environ.get(ACTOR_ENV)
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def build_engine(
    db: str | None = None,
    *,
    policy_paths: Iterable[Path] = (),
    clock: Clock = utc_now,
    actor: str | None = None,
) -> SalesEngine:
    settings = store_settings(db)
    catalog = PolicyCatalog(policy_dirs(policy_paths))
    return SalesEngine(
        catalog,
        clock=clock,
        default_actor=actor or default_actor(),
        positions=RecorderPositions,
        env=dict(settings.env),
    )
