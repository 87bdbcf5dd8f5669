"""The demo's quotas: each rep's and each team's target for the demo's year, broken into
quarters, so that ``quota list``, ``vvalue`` and ``plan --per rep`` have figures.

Each rep's year is split evenly, each team's by amounts given per quarter (rising over
the year, as a team's targets usually do). One rep's yearly quota is raised three weeks
before the quarter's end, restated from the 1st of January: a read known at an earlier
K still shows the old one (``quota list --known-at``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from salesengine.cli.demo_accounts import Entry

# About what a demo rep wins in a year (some 3,000,000 a quarter), so that some reps are
# short of it and some have met it.
YEARLY = Decimal(12_000_000)
# A team's year, per quarter: below the sum of its reps' quotas (4 x 12,000,000), as
# managers leave themselves a margin.
TEAM_QUARTERS = (Decimal(9_000_000), Decimal(10_500_000), Decimal(11_500_000), Decimal(13_000_000))
TEAM_YEARLY = sum(TEAM_QUARTERS, Decimal(0))
RAISED_REP = "Wang Fang"
RAISED_TO = Decimal(14_000_000)


def quota_entries(prefix: str, anchor: datetime, teams: dict[str, list[str]]) -> list[Entry]:
    """Every rep's and team's quota for the anchor's year, effective on its 1st of
    January, under ids of the demo's (a second run applies nothing), and the raise."""
    start = datetime(anchor.year, 1, 1, tzinfo=UTC)
    year = f"{anchor.year:04d}"
    out: list[Entry] = []

    def add(name: str, fields: dict[str, Any], recorded: datetime | None = None) -> None:
        command = {"cmd": "set_quota", "id": f"{prefix}:quota:{name}", "period": year,
                   "currency": "CNY", "at": start.isoformat(), "by": "demo", **fields}  # fmt: skip
        out.append(Entry(start, command, recorded))

    for team, reps in teams.items():
        split = [str(q) for q in TEAM_QUARTERS]
        add(team, {"team": team, "amount": str(TEAM_YEARLY), "split": split})
        for rep in reps:
            add(rep, {"rep": rep, "team": team, "amount": str(YEARLY)})
            if rep == RAISED_REP:
                # Recorded three weeks before the quarter's end, or within the year if it
                # began later than that.
                raised = max(anchor - timedelta(days=21), start + timedelta(days=1))
                fields = {"rep": rep, "team": team, "amount": str(RAISED_TO)}
                add(f"{rep}:raised", fields, raised)
    return out
