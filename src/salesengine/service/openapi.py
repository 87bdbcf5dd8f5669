"""The API's OpenAPI document: what each endpoint declares beyond its answer (its
problem documents, its freshness headers), and the committed copy, docs/openapi.json.

``python -m salesengine.service.openapi_file > docs/openapi.json`` writes the copy
again (service/openapi_file.py); tests/service/test_openapi.py fails while the two
differ."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from salesengine.service.problems import MEDIA_TYPE, ProblemDocument

# What each status means wherever it is declared; an endpoint may say more of its own.
MEANING = {
    401: "No token, or one that is unknown, expired or revoked (WWW-Authenticate: Bearer).",
    403: "The token's role may not do this (docs/access.md).",
    404: "Not found, or out of the caller's scope (the same answer either way).",
    409: "A conflict with what the store holds.",
    413: "The request is larger than the service accepts.",
    415: "The body is not application/json.",
    422: "A malformed parameter or body: errors names each field at fault.",
    503: "The store cannot be reached now; try again.",
}

_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "The Bearer challenge.",
            "schema": {"type": "string"},
        }
    },
}

FRESHNESS: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            "X-Log-Position": {
                "description": "The last event in the store's log when the answer was read.",
                "schema": {"type": "integer", "minimum": 0},
                "required": True,
            },
            "X-Read-Models-Behind": {
                "description": "How many events of the log the read models had yet to apply.",
                "schema": {"type": "integer", "minimum": 0},
                "required": True,
            },
        }
    }
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route for these error statuses, each a problem document."""
    return described({s: MEANING[s] for s in statuses})


def described(meanings: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route for these error statuses, each with its own words."""
    found: dict[int | str, dict[str, Any]] = {}
    for status, meaning in meanings.items():
        found[status] = {"model": ProblemDocument, "description": meaning}
        if status in _HEADERS:
            found[status]["headers"] = _HEADERS[status]
    return found


def document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, its error answers as ``application/problem+json``
    (the framework files every declared model under the route's own media type)."""
    found = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        summary=app.summary,
        description=app.description,
        routes=app.routes,
    )
    for operations in found.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if int(status) >= 400 and "application/json" in content:
                    content[MEDIA_TYPE] = content.pop("application/json")
    return found


def install(app: FastAPI) -> None:
    """Serve ``document`` at the app's openapi_url (built once, on the first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
