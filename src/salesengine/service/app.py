"""The ASGI application: the API under ``/api/v1``, the dashboard at ``/``, the OpenAPI
document at ``/api/v1/openapi.json``. ``create_app`` is the one way to build it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from salesengine.service import (
    accounts_api,
    anomalies_api,
    commands_api,
    dashboard,
    deals_api,
    erasures_api,
    export_api,
    feed_api,
    meta_api,
    openapi,
    portfolio_api,
    quotas_api,
    reports_api,
    review_api,
)
from salesengine.service.context import ServiceContext, ServiceSettings
from salesengine.service.limits import BodyLimits
from salesengine.service.problems import install

DB_ENV = "SALESENGINE_DB"
POLICY_PATH_ENV = "SALESENGINE_SERVICE_POLICY_DIRS"


def create_app(settings: ServiceSettings, *, context: ServiceContext | None = None) -> FastAPI:
    """The app over ``settings.db``; ``context``: one already open (tests share theirs)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = context if context is not None else ServiceContext.open(settings)
        app.state.context = ctx
        ctx.start()
        try:
            yield
        finally:
            if context is None:
                ctx.stop()

    app = FastAPI(
        title="salesengine",
        version="1",
        summary="Event-sourced deals guarded by funnel policies: commands, bitemporal "
        "reports and the auditor's replay.",
        openapi_url="/api/v1/openapi.json",
        # No interactive page: the framework's loads its scripts from a CDN, and nothing
        # the service serves may (docs/dashboard.md).
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    install(app)
    app.add_middleware(BodyLimits, max_body=settings.max_body)
    for module in (meta_api, commands_api, deals_api, reports_api, export_api, feed_api):
        app.include_router(module.router)
    # The key-account method's reads: accounts, their coverage, the case review.
    app.include_router(accounts_api.router)
    app.include_router(accounts_api.reports)
    app.include_router(review_api.router)
    # The key-account method's answers: quotas, the V value, the portfolio, anomalies.
    for router in (quotas_api.router, portfolio_api.router, anomalies_api.router):
        app.include_router(router)
    # Personal data erased for good, by an admin (docs/privacy.md).
    app.include_router(erasures_api.router)
    dashboard.install(app)
    openapi.install(app)
    return app


def app_from_env() -> FastAPI:
    """The app as ``salesengine serve`` starts it in each worker: its settings from the
    environment the command sets (``uvicorn --factory``)."""
    dirs = os.environ.get(POLICY_PATH_ENV, "")
    return create_app(
        ServiceSettings(
            db=os.environ.get(DB_ENV) or None,
            policy_dirs=tuple(Path(d) for d in dirs.split(os.pathsep) if d),
        )
    )
