"""The receipt of an erasure, as ``salesengine erase --json`` prints it and
``POST /api/v1/erasures`` answers it: one document, built here for both; and the one
line each says when an erasure is refused."""

from __future__ import annotations

from typing import Any

from salesengine.application.erasure import Erased


def receipt(erased: Erased, by: str) -> dict[str, Any]:
    """What was erased, by whom and when: the subject as it was named, its kind, the
    opaque ids of the keys deleted (as the erasure event records them) and the event."""
    return {
        "subject": erased.subject,
        "kind": erased.kind,
        "keys_deleted": len(erased.subjects),
        "key_ids": list(erased.subjects),
        "erasure_id": erased.erasure,
        "recorded_at": erased.recorded_at,
        "by": by,
        "scrubbed": erased.scrubbed,
    }


def refused(subject: str, message: str) -> str:
    """A refusal of ``erase`` as one line that names the subject as it was given."""
    return message if subject in message else f"cannot erase {subject}: {message}"
