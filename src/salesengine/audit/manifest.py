"""The manifest written beside an XES, CSV or Parquet export: what ties the exported
file to the signed chain (docs/audit.md, "Export manifests").

The exported files are projections of events, not the stored rows, so the manifest
cannot prove a row's content; it carries each file's SHA-256, the positions of the
exported events, and the chain's rows from the first of them to the latest signed
checkpoint covering them, which a verifier links hash by hash to the checkpoint's root
(``audit_verifier.verify_manifest``).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from salesengine.audit.export import chain_range
from salesengine.audit.log_rows import LogRows
from salesengine.audit.verify import origin_of
from salesengine.audit_verifier import (
    GENESIS,
    MANIFEST_FORMAT,
    Checkpoint,
    file_sha256,
    manifest_path,
)
from salesengine.store.settings import StoreSettings

# A chain row as the manifest carries it: enough to link it to the checkpoint's root.
_ROW_FIELDS = ("position", "seq", "aggregate", "version", "event_hash", "log_hash")


def write_manifest(
    settings: StoreSettings,
    sql: Engine,
    export: Path,
    files: Iterable[Path],
    positions: Iterable[int],
    about: dict[str, Any],
) -> Path:
    """Write the manifest of ``export`` (a file, or the directory of ``files``) and
    return its path. ``about`` adds what the export was (format, as of, known at)."""
    target = manifest_path(export)
    manifest = build_manifest(settings, sql, files, positions, about)
    temp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        temp.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        temp.replace(target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return target


def build_manifest(
    settings: StoreSettings,
    sql: Engine,
    files: Iterable[Path],
    positions: Iterable[int],
    about: dict[str, Any],
) -> dict[str, Any]:
    exported = sorted(set(positions))
    chain: list[dict[str, Any]] = []
    previous = GENESIS
    checkpoint: str | None = None
    if exported:
        first, last = exported[0], exported[-1]
        found = chain_range(settings, sql, first, last)
        checkpoint = found["checkpoint"]
        rows = LogRows(settings)
        with rows.snapshot(sql) as conn:
            # The rows run on to the checkpoint's size, so that the last is its root.
            end = rows.link_at(conn, Checkpoint.parse(checkpoint).size) if checkpoint else None
            if end is not None and end[0] > last:
                found = chain_range(settings, sql, first, end[0])
            chain = found["links"]
            if chain and chain[0]["seq"] > 1:
                before = rows.link_at(conn, chain[0]["seq"] - 1)
                previous = before[1] if before else previous
    else:
        checkpoint = chain_range(settings, sql, 1, 0)["checkpoint"]
    return {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "origin": origin_of(sql),
        "exported_at": datetime.now(UTC).isoformat(),
        **about,
        "files": [{"name": f.name, "sha256": file_sha256(f)} for f in files],
        "range": {"first": exported[0], "last": exported[-1]} if exported else None,
        "positions": exported,
        "checkpoint": checkpoint,
        "previous_log_hash": previous.hex(),
        "chain": [{k: row[k] for k in _ROW_FIELDS} for row in chain],
    }
