"""``GET /api/v1/export``: every deal the caller reaches, its events and stage
intervals, as ``salesengine export`` writes them: one XES log, or the CSV or Parquet
tables in a zip. Built in a temporary directory first, so a failed export sends
nothing, then streamed from disk, so a large one does not sit in memory.

No audit manifest comes with it: a manifest's chain rows span every log position of a
range, the caller's scope or not, and in-scope rows alone cannot be linked to a signed
root (docs/audit.md, "Export manifests"). The summary's positions are not used here."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Query
from fastapi.responses import FileResponse

from salesengine.access.principal import Principal
from salesengine.access.roles import Action
from salesengine.service.answers import read_models
from salesengine.service.auth import Context, allowed
from salesengine.service.openapi import problems
from salesengine.service.params import AsOfQuery, KnownQuery, instant, now_or

router = APIRouter(prefix="/api/v1", tags=["export"], dependencies=[KnownQuery])

Exporter = Annotated[Principal, Depends(allowed(Action.EXPORT))]

MEDIA = {"xes": "application/xml", "csv": "application/zip", "parquet": "application/zip"}
FILES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The XES log, or a zip of the events and stage_intervals tables.",
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}}
            for media in sorted(set(MEDIA.values()))
        },
    }
}


@router.get(
    "/export",
    summary="The caller's deals' events: an XES log, or CSV or Parquet tables (zip)",
    response_class=FileResponse,
    responses=FILES | problems(401, 403, 422, 503),
)
def export(
    ctx: Context,
    who: Exporter,
    cleanup: BackgroundTasks,
    fmt: Annotated[Literal["xes", "csv", "parquet"], Query(alias="format")] = "xes",
    as_of: AsOfQuery = None,
    known_at: Annotated[
        str | None, Query(description="Only events recorded by K; default now.")
    ] = None,
) -> FileResponse:
    """Events effective by T (default now) and recorded by K (default now)."""
    from salesengine.exporting.tables import export_tables
    from salesengine.exporting.xes import export_xes

    t = now_or(instant(as_of, "as_of"))
    k = now_or(instant(known_at, "known_at"))
    work = Path(tempfile.mkdtemp(prefix="salesengine-export-"))
    cleanup.add_task(_remove, work)
    try:
        with read_models(ctx) as conn:
            if fmt == "xes":
                sent = work / "salesengine.xes"
                export_xes(ctx.engine, sent, t, k, scope=who.scope, read_models=conn)
            else:
                tables = work / "tables"
                export_tables(ctx.engine, tables, fmt, t, k, scope=who.scope, read_models=conn)
                sent = work / f"salesengine-{fmt}.zip"
                with zipfile.ZipFile(sent, "w", zipfile.ZIP_DEFLATED) as packed:
                    for file in sorted(tables.iterdir()):
                        packed.write(file, file.name)
    except BaseException:
        _remove(work)
        raise
    return FileResponse(sent, media_type=MEDIA[fmt], filename=sent.name)


def _remove(directory: Path) -> None:
    for file in sorted(directory.rglob("*"), reverse=True):
        if file.is_dir():
            file.rmdir()
        else:
            file.unlink(missing_ok=True)
    directory.rmdir()
