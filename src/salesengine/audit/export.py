"""The audit export: every stored event with its chain link, and the kept checkpoints,
as JSON Lines that ``salesengine.audit_verifier`` checks with no store and no engine.

Line 1 is the header (format, origin, when chaining began); then one line per kept
checkpoint (its note, as signed); then one line per position, in log order, with the
event row as stored (``state`` is the stored bytes as UTF-8 text, or
``state_base64`` when they are not UTF-8) and its link, either of them ``null`` when
that side is gone. The rows are exported as they are, tampered or not: judging them is
the verifier's job.

``chain_range`` is what an exporter of another format (XES, CSV, Parquet) calls to
carry the proof of what it exported: the checkpoint and the links of a range.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from sqlalchemy import Engine

from salesengine.audit.checkpoints import kept
from salesengine.audit.log_rows import LogRows
from salesengine.audit.verify import origin_of
from salesengine.audit_verifier import EXPORT_FORMAT, Checkpoint, Event, Link
from salesengine.store.settings import StoreSettings


@dataclass(frozen=True)
class ExportSummary:
    entries: int
    checkpoints: int
    origin: str


def export_log(settings: StoreSettings, sql: Engine, out: TextIO) -> ExportSummary:
    origin = origin_of(sql)
    notes = [note for _, note in kept(sql)]
    rows = LogRows(settings)
    count = 0
    with rows.snapshot(sql) as conn:
        start = rows.start(conn)
        header = {
            "kind": "header",
            "format": EXPORT_FORMAT,
            "version": 1,
            "origin": origin,
            "exported_at": datetime.now(UTC).isoformat(),
            "chained_since": _text(start.chained_since),
            "upgraded_through": start.upgraded_through,
            "upgraded_events": start.upgraded_events,
        }
        out.write(json.dumps(header) + "\n")
        for note in notes:
            out.write(json.dumps({"kind": "checkpoint", "note": note}) + "\n")
        for position, event, link in rows.entries(conn):
            line = {"kind": "entry", "position": position, "event": event_json(event)}
            line["link"] = link_json(link)
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            count += 1
    return ExportSummary(count, len(notes), origin)


def event_json(event: Event | None) -> dict[str, Any] | None:
    if event is None:
        return None
    aggregate, version, topic, state = event
    found: dict[str, Any] = {"aggregate": aggregate, "version": version, "topic": topic}
    try:
        found["state"] = state.decode("utf-8")
    except UnicodeDecodeError:
        found["state_base64"] = base64.b64encode(state).decode()
    return found


def link_json(link: Link | None) -> dict[str, Any] | None:
    if link is None:
        return None
    seq, aggregate, version, digest, hashed, log = link
    return {
        "seq": seq,
        "aggregate": aggregate,
        "version": version,
        "state_digest": digest.hex(),
        "event_hash": hashed.hex(),
        "log_hash": log.hex(),
    }


def chain_range(settings: StoreSettings, sql: Engine, first: int, last: int) -> dict[str, Any]:
    """The proof for the events at positions ``first`` to ``last``: the log's origin, the
    latest kept checkpoint that covers them (None if none does yet) and their links."""
    rows = LogRows(settings)
    with rows.snapshot(sql) as conn:
        links = rows.links(conn, first, last)
    checkpoint = None
    needed = max((link[0] for _, link in links), default=0)
    for _, note in reversed(kept(sql)):
        try:
            parsed = Checkpoint.parse(note)
        except ValueError:
            continue
        if parsed.size >= needed:
            checkpoint = note
            break
    return {
        "origin": origin_of(sql),
        "checkpoint": checkpoint,
        "links": [{"position": p, **(link_json(link) or {})} for p, link in links],
    }


def _text(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value
