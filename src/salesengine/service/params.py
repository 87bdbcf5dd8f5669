"""The reports' query parameters, read as the command line reads its options: instants
in ISO 8601 with offset or as plain dates (00:00 UTC), a grouping, a known policy. A
bad value is a 422 naming the parameter."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import Depends, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from salesengine.application.instants import FORMS, parse_instant
from salesengine.domain.policy import parse_size_bands
from salesengine.service.auth import Anyone, Context
from salesengine.service.problems import Problem

Grouping = Literal["owner", "team", "region", "policy", "size"]

_INSTANT = f"An instant: {FORMS} (00:00 UTC)."


def invalid(name: str, message: str) -> Problem:
    return Problem(
        422,
        "invalid_request",
        f"query.{name}: {message}",
        errors=[{"field": f"query.{name}", "message": message}],
    )


def instant(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError as e:
        raise invalid(name, str(e)) from None


def required_instant(value: str, name: str) -> datetime:
    found = instant(value, name)
    if found is None:  # pragma: no cover - a value was given
        raise invalid(name, "an instant is required")
    return found


AsOfQuery = Annotated[
    str | None, Query(description=_INSTANT + " The effective instant T; default now.")
]
KnownAtQuery = Annotated[
    str | None,
    Query(description=_INSTANT + " The recording instant K; default: all recorded."),
]
ByQuery = Annotated[Grouping | None, Query(description="Group the rows by this.")]
PolicyQuery = Annotated[str | None, Query(description="Only deals of this policy.")]
BandsQuery = Annotated[
    str | None,
    Query(
        alias="size_bands",
        description="With by=size: where the bands start, e.g. 1000,5000,20000.",
    ),
]


async def checked_policy(ctx: Context, policy: PolicyQuery = None) -> str | None:
    # async: it reads no store (auth.py says why that matters)
    if policy is not None and policy not in ctx.policies:
        raise invalid("policy", f"no policy {policy!r} (one of {', '.join(sorted(ctx.policies))})")
    return policy


Policy = Annotated[str | None, Depends(checked_policy)]


def size_bands(by: str | None, text: str | None) -> tuple[Decimal, ...] | None:
    if text is None:
        return None
    if by != "size":
        raise invalid("size_bands", "only applies with by=size")
    try:
        return parse_size_bands(text)
    except ValueError as e:
        raise invalid("size_bands", str(e)) from None


def now_or(value: datetime | None) -> datetime:
    return value if value is not None else datetime.now(UTC)


def _taken(dependant: Dependant) -> frozenset[str]:
    """The query parameters a route (and the dependencies it uses) reads."""
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _taken(sub)
    return frozenset(names)


_TAKEN: dict[int, frozenset[str]] = {}


async def known_query(request: Request, _: Anyone) -> None:
    """A query parameter the endpoint does not take is refused, not ignored: a misspelt
    ``asof`` would otherwise answer for now without a word. After authentication, so a
    caller without a token hears 401 first."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):  # pragma: no cover - only API routes use it
        return
    taken = _TAKEN.get(id(route))
    if taken is None:
        taken = _TAKEN[id(route)] = _taken(route.dependant)
    unknown = sorted(set(request.query_params) - taken)
    if unknown:
        message = f"not a parameter here (it takes: {', '.join(sorted(taken)) or 'none'})"
        raise Problem(
            422,
            "invalid_request",
            "; ".join(f"query.{name}: {message}" for name in unknown[:5]),
            errors=[{"field": f"query.{name}", "message": message} for name in unknown],
        )


KnownQuery = Depends(known_query)
