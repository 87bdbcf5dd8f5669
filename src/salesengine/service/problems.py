"""Errors as RFC 9457 problem documents (``application/problem+json``): a status, a
stable ``code`` a program can switch on, a ``detail`` a person can act on, and for
malformed input the fields at fault; for a guard's refusal, the unmet criteria."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from salesengine.domain.errors import (
    CommandIdReused,
    ConcurrencyConflict,
    CriteriaNotMet,
    DealAlreadyExists,
    OutOfScope,
    SalesEngineError,
    StoreUnavailable,
    UnknownDeal,
)

MEDIA_TYPE = "application/problem+json"

# The status each refusal of the engine answers with; any other refusal of a command
# (a guard's, a closed deal, a bad time) is 422, with its own code.
STATUS_OF: tuple[tuple[type[SalesEngineError], int], ...] = (
    (UnknownDeal, 404),
    (OutOfScope, 403),
    (DealAlreadyExists, 409),
    (ConcurrencyConflict, 409),
    (CommandIdReused, 409),
    (StoreUnavailable, 503),
)

TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Unprocessable request",
    503: "Store unavailable",
}


class Problem(Exception):
    """An error answered as a problem document."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors
        self.headers = headers
        self.extra = extra


def problem_response(problem: Problem) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://salesengine.dev/problems/{problem.code}",
        "title": TITLES.get(problem.status, "Error"),
        "status": problem.status,
        "code": problem.code,
        "detail": problem.detail,
    }
    if problem.errors is not None:
        body["errors"] = problem.errors
    body.update(problem.extra)
    return JSONResponse(body, problem.status, headers=problem.headers, media_type=MEDIA_TYPE)


def refusal(error: SalesEngineError, *, at: int | None = None) -> Problem:
    """The problem a refusal of the engine answers with; ``at``: the command's index in
    a batch."""
    status = next((s for kind, s in STATUS_OF if isinstance(error, kind)), 422)
    extra: dict[str, Any] = {}
    if isinstance(error, CriteriaNotMet):
        extra = {"stage": error.stage, "unmet": error.missing}
    if at is not None:
        extra["index"] = at
    return Problem(status, error.code, error.message, **extra)


def field_name(location: tuple[int | str, ...]) -> str:
    """A validation error's place, as a person reads it: ``query.as_of``, ``body[2].amount``."""
    name = ""
    for part in location:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else part
    return name


def install(app: FastAPI) -> None:
    """Every error the app can meet, answered as a problem document."""

    async def on_problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(exc)

    async def on_invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"field": field_name(tuple(e["loc"])), "message": str(e["msg"])} for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(Problem(422, "invalid_request", detail, errors=errors))

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return problem_response(
            Problem(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))
        )

    async def on_engine(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SalesEngineError)
        return problem_response(refusal(exc))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(SalesEngineError, on_engine)
