"""Errors as RFC 9457 problem documents (``application/problem+json``): a status, a
stable ``code`` a program can switch on, a ``detail`` a person can act on, and for
malformed input the fields at fault; for a guard's refusal, the unmet criteria."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from salesengine.domain.account import AccountAlreadyExists, UnknownAccount
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
    (UnknownAccount, 404),
    (OutOfScope, 403),
    (DealAlreadyExists, 409),
    (AccountAlreadyExists, 409),
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


class FieldError(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(description="Where: query.as_of, body[2].amount, ...")
    message: str


class ProblemDocument(BaseModel):
    """What every error answers (``application/problem+json``, RFC 9457); the body of
    each is built from this model, so the OpenAPI document cannot drift from it."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="A URI naming the kind of problem; ends with its code.")
    title: str = Field(description="The status in words.")
    status: int = Field(ge=400, le=599)
    code: str = Field(description="A stable code a program can switch on.")
    detail: str = Field(description="What went wrong, for a person to act on.")
    errors: list[FieldError] | None = Field(
        default=None, description="Malformed input (422): each field at fault."
    )
    stage: str | None = Field(
        default=None, description="A guard's refusal: the stage whose entry criteria are unmet."
    )
    unmet: list[str] | None = Field(default=None, description="A guard's refusal: the criteria.")
    index: int | None = Field(
        default=None, description="In a batch: the index of the command refused."
    )


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
    fields: dict[str, Any] = {
        "type": f"https://salesengine.dev/problems/{problem.code}",
        "title": TITLES.get(problem.status, "Error"),
        "status": problem.status,
        "code": problem.code,
        "detail": problem.detail,
    }
    if problem.errors is not None:
        fields["errors"] = problem.errors
    fields.update(problem.extra)
    # Through the model: a key it does not declare fails here, in every test, not in a
    # client. Only the keys given are answered (a refusal's stage, unmet, index).
    body = ProblemDocument.model_validate(fields).model_dump(mode="json", exclude_unset=True)
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
    """A validation error's place, as a person reads it: ``query.as_of``, ``body[2].amount``.
    The validator's own steps (``tagged-union[...]`` and the tag after it, ``list[...]``)
    are left out: they name how the body was read, not where the caller went wrong."""
    name = ""
    skip_tag = False
    for part in location:
        if skip_tag and isinstance(part, str):
            skip_tag = False
            continue
        if isinstance(part, str) and "[" in part:
            # a list's tag follows the item's index: list[tagged-union[...]], 2, "visit"
            skip_tag = "tagged-union[" in part
            continue
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else part
    return name


# A body may be one command or a list of them, and the validator tries it as both: of
# the branch whose shape the body does not have ("Input should be a valid list" for an
# object) only that says which shape was not sent, so the errors of the branch that
# matches the body's shape are the ones answered.
_SHAPE_ONLY = {"list_type", "model_attributes_type", "dict_type", "model_type"}
_OBJECT_TYPES = {"model_attributes_type", "dict_type", "model_type"}
_JSON_KINDS = ((bool, "true or false"), (str, "a string"), (int | float, "a number"))


def _branch(location: tuple[int | str, ...]) -> str | None:
    """Which shape of a one-or-many body an error was met in (None: not such a body)."""
    if len(location) >= 2 and location[0] == "body" and isinstance(location[1], str):
        return location[1] if "[" in location[1] else None
    return None


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return next((name for kind, name in _JSON_KINDS if isinstance(value, kind)), "a value")


def _message(e: dict[str, Any]) -> str:
    if e["type"] in _OBJECT_TYPES:  # the framework's words name Python's types
        return f"must be an object, not {_json_kind(e.get('input'))}"
    return str(e["msg"])


def validation_errors(raw: Sequence[Any]) -> list[dict[str, str]]:
    located = [(tuple(e["loc"]), e) for e in raw]
    branches = {b for loc, _ in located if (b := _branch(loc)) is not None}
    mismatched = {
        b
        for loc, e in located
        if len(loc) == 2 and e["type"] in _SHAPE_ONLY and (b := _branch(loc)) is not None
    }
    errors = []
    if branches and branches <= mismatched:
        errors.append({"field": "body", "message": "send a command object, or a list of them"})
    for loc, e in located:
        if _branch(loc) in mismatched:
            continue
        field = field_name(loc)
        if e["type"] == "union_tag_invalid" or e["type"] == "union_tag_not_found":
            field += ".cmd"
        errors.append({"field": field, "message": _message(e)})
    return errors


def install(app: FastAPI) -> None:
    """Every error the app can meet, answered as a problem document."""

    async def on_problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(exc)

    async def on_invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = validation_errors(exc.errors())
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(Problem(422, "invalid_request", detail, errors=errors))

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400:
            # The framework's own word on a body it could not read (JSON nested past
            # what its parser takes): malformed input, answered as all malformed input is.
            detail = f"body: {exc.detail}"
            errors = [{"field": "body", "message": str(exc.detail)}]
            return problem_response(Problem(422, "invalid_request", detail, errors=errors))
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
