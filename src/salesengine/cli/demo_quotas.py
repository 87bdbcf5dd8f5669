"""The demo's quotas: each rep's target for the demo's year, broken into quarters and
adding up to their team's, so that ``vvalue`` and ``plan --per rep`` have figures."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from salesengine.application.engine import SalesEngine

# About what a demo rep wins in a year (some 3,000,000 a quarter), so that some reps are
# short of it and some have met it.
YEARLY = Decimal(12_000_000)


def seed_quotas(
    engine: SalesEngine, prefix: str, anchor: datetime, teams: dict[str, list[str]]
) -> tuple[int, int]:
    """Each rep's yearly quota, effective on the 1st of January of the anchor's year, under
    an id of the demo's (a second run applies nothing): (applied, already present)."""
    from salesengine.application.quota_commands import parse_quota_command
    from salesengine.application.quotas import Quotas

    quotas = Quotas(engine)
    start = datetime(anchor.year, 1, 1, tzinfo=UTC)
    applied = duplicates = 0
    for team, reps in teams.items():
        for rep in reps:
            command = parse_quota_command(
                {
                    "cmd": "set_quota", "id": f"{prefix}:quota:{rep}", "rep": rep, "team": team,
                    "period": f"{anchor.year:04d}", "amount": str(YEARLY), "currency": "CNY",
                    "at": start.isoformat(), "by": "demo",
                }
            )  # fmt: skip
            if quotas.execute(command).status == "duplicate":
                duplicates += 1
            else:
                applied += 1
    return applied, duplicates
