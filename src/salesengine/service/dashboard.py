"""The dashboard's files: ``/`` answers the page, ``/static/`` its scripts and styles,
all shipped inside the package (no CDN, nothing fetched from elsewhere). The page reads
the API with the token a person pastes; serving it needs none."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"

# The page loads only what this app serves: a script or style from elsewhere is refused
# by the browser. Inline style attributes stay allowed (the charts' legends use them).
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def install(app: FastAPI) -> None:
    """Serve the page at ``/`` and its assets under ``/static/``; neither is in the OpenAPI
    document, which describes the API alone."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(
            STATIC / "index.html",
            headers={"Cache-Control": "no-cache", "Content-Security-Policy": POLICY},
        )
