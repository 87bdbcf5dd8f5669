"""``salesengine serve``: the HTTP API and the dashboard over the store (docs/service.md)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from salesengine.cli.options import STATE


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Server processes (PostgreSQL stores; an SQLite store is served by one).",
        ),
    ] = 1,
) -> None:
    """Serve the API (/api/v1) and the dashboard (/) over the store, keeping its read models
    current. Make tokens first: salesengine token create NAME --role R."""
    import uvicorn

    from salesengine.service.app import DB_ENV, POLICY_PATH_ENV
    from salesengine.store.settings import store_settings

    settings = store_settings(STATE.db, creating=False)
    if workers > 1 and settings.kind != "postgresql":
        raise typer.BadParameter(
            "an SQLite store is served by one process: use a postgresql:// store for more",
            param_hint="--workers",
        )
    STATE.engine(create=False)  # a missing or unreadable store is named before listening
    # Each worker builds its app from the environment (uvicorn --factory), in this
    # process and in the ones it starts.
    if STATE.db is not None:
        os.environ[DB_ENV] = STATE.db
    os.environ[POLICY_PATH_ENV] = os.pathsep.join(str(d) for d in STATE.policy_dirs)
    typer.echo(
        f"salesengine: dashboard and API at http://{host}:{port}/ (OpenAPI: /api/v1/openapi.json)"
    )
    uvicorn.run(
        "salesengine.service.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,  # request lines carry no tokens, but stay quiet by default
        # Open event streams end at shutdown rather than hold it off.
        timeout_graceful_shutdown=5,
    )
