"""``/api/v1/me``, ``/status`` and ``/policies``: who is asking, how current the read
models are, and the funnel policies in force (with the versions the store keeps)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from salesengine.access.roles import PERMISSIONS
from salesengine.application.json_form import jsonable
from salesengine.domain.policy import version_named
from salesengine.service import schemas
from salesengine.service.auth import Anyone, Context, Reader
from salesengine.service.openapi import problems
from salesengine.service.params import KnownQuery
from salesengine.service.problems import Problem

router = APIRouter(prefix="/api/v1", tags=["service"], dependencies=[KnownQuery])


@router.get(
    "/me",
    summary="The principal of the token",
    response_model=schemas.Me,
    responses=problems(401, 503),
)
def me(who: Anyone) -> dict[str, Any]:
    return {
        "name": who.name,
        "role": str(who.role),
        "scope": who.scope.describe(),
        "actions": sorted(str(a) for a in PERMISSIONS[who.role]),
    }


@router.get(
    "/status",
    summary="How far the read models are behind the event log",
    response_model=schemas.Status,
    responses=problems(401, 503),
)
def status(ctx: Context, _: Anyone) -> dict[str, Any]:
    """``log_position``: the last event stored; each read model's position and how many
    events it has yet to apply. The dashboard polls it to refresh when events arrive."""
    statuses = ctx.read_model_status()
    seen = ctx.freshness_of(statuses)
    return {
        "log_position": seen.log_position,
        "behind": seen.behind,
        "read_models": [
            {"name": s.name, "position": s.position, "behind": s.behind} for s in statuses
        ],
    }


@router.get(
    "/policies",
    summary="The funnel policies in force",
    response_model=schemas.Policies,
    responses=problems(401, 403, 503),
)
def policies(ctx: Context, _: Reader) -> JSONResponse:
    return JSONResponse(
        jsonable({"policies": [ctx.policies[n].shown() for n in sorted(ctx.policies)]})
    )


@router.get(
    "/policies/{name}",
    summary="One policy, or one of its kept versions",
    response_model=schemas.Policy,
    responses=problems(401, 403, 404, 422, 503),
)
def policy(
    ctx: Context,
    _: Reader,
    name: Annotated[str, Path(max_length=64)],
    version: Annotated[
        str | None,
        Query(description="A version the store keeps: its fingerprint or a unique start."),
    ] = None,
) -> JSONResponse:
    current = ctx.policies.get(name)
    if current is None:
        raise Problem(404, "unknown_policy", f"no policy {name!r}")
    if version is None:
        return JSONResponse(jsonable(current.shown()))
    try:
        found = version_named(current, ctx.engine.kept_policy_versions(), version)
    except ValueError as e:
        raise Problem(404, "unknown_policy_version", str(e)) from None
    return JSONResponse(jsonable(found.shown()))
