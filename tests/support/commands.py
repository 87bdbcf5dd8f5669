"""Commands built from keyword fields, and the facts a five-level deal opens with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from salesengine.application.commands import Command, parse_command

SEED_POLICIES = ("five-level", "funnel-list", "seven-stage")

FIVE_LEVEL_OPENING = {
    "key_people_known": True,
    "org_structure_confirmed": True,
    "need_determined": True,
    "visit_arranged": True,
}


def cmd(**fields: Any) -> Command:
    """Build a command from keyword fields; ``at`` may be a datetime."""
    if isinstance(fields.get("at"), datetime):
        fields["at"] = fields["at"].isoformat()
    return parse_command(fields)
