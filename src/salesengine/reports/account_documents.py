"""The accounts' JSON documents that the command line (``account list | history
--json``) and the service answer alike, built once here so the two cannot drift."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from salesengine.application.accounts import AccountEvents
from salesengine.application.json_form import jsonable
from salesengine.reports.accounts import AccountView

# What every event carries, shown in the history's own columns and not in its data.
_ENVELOPE = frozenset(
    {
        "originator_id",
        "originator_version",
        "originator_topic",
        "timestamp",
        "effective_at",
        "actor",
        "command_id",
        "provenance",
        "command_digest",
        "account",
    }
)


def account_summary(v: AccountView) -> dict[str, Any]:
    """An account's row of the list: its view less contacts, activities and deals."""
    row: dict[str, Any] = jsonable(v)
    for name in ("contacts", "activities", "deals"):
        row.pop(name)
    row["open_deals"] = v.open_deals
    row["present_contacts"] = sum(c.left_at is None for c in v.contacts)
    return row


def history_rows(
    events: AccountEvents, as_of: datetime, known_at: datetime | None
) -> list[dict[str, Any]]:
    """The events recorded by K in timeline order (effective time, then version), each
    with both clocks and whether it is effective after T."""
    rows = []
    for e in events.timeline:
        if known_at is not None and e.timestamp > known_at:
            continue
        data = {
            name: value
            for name, value in vars(e).items()
            if name not in _ENVELOPE and value not in (None, [], {})
        }
        rows.append(
            {
                "version": e.originator_version,
                "type": type(e).__name__,
                "effective_at": e.effective_at,
                "recorded_at": e.timestamp,
                "actor": e.actor,
                "command_id": e.command_id,
                "after_t": e.effective_at > as_of,
                "data": jsonable(data),
            }
        )
    return rows
