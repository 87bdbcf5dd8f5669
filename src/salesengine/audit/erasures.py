"""That every erasure the log records took effect: no key of an erased subject is still
stored (``store.personal_keys``). Checked in the verification's own snapshot; a key
still there is a finding, so ``audit verify`` fails until the erasure is made good.

What an erasure cannot be checked against from inside the store (a backup taken before
it, a consumer's copy of a relayed message) is listed in docs/privacy.md.
"""

from __future__ import annotations

from sqlalchemy import Connection

from salesengine.audit.log_rows import LogRows, fetch
from salesengine.audit_verifier import Finding
from salesengine.domain.erasure import ERASURE_TOPIC
from salesengine.store.personal_keys import KEYS_TABLE, erased_subjects


def check_erasures(rows: LogRows, conn: Connection) -> tuple[int, list[Finding]]:
    """The erasures the log records, and a finding for each that left a key behind."""
    recorded = fetch(
        conn,
        f"SELECT {rows.position}, originator_id, state FROM {rows.events} "
        f"WHERE topic = {rows.p} ORDER BY {rows.position}",
        (ERASURE_TOPIC,),
    )
    if not recorded:
        return 0, []
    stored = {r[0] for r in fetch(conn, f"SELECT subject FROM {rows.prefix}{KEYS_TABLE}", ())}
    findings = []
    for position, originator_id, state in recorded:
        subjects = erased_subjects(state)
        left = sorted(set(subjects) & stored)
        if left:
            why = f"erased subjects whose key is still stored: {', '.join(left)}"
            aggregate = originator_id.hex if hasattr(originator_id, "hex") else str(originator_id)
            findings.append(Finding("erasure", int(position), aggregate, 1, (why,)))
    return len(recorded), findings
