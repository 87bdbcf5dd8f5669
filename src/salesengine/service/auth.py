"""Who is asking: the bearer token of each request, turned into a principal, and the
role's permission for what it asks (``access.roles.PERMISSIONS``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from salesengine.access.principal import Principal
from salesengine.access.roles import Action
from salesengine.access.tokens import Refusal
from salesengine.service.context import ServiceContext
from salesengine.service.problems import Problem

# auto_error off: a missing or non-Bearer header is answered as a problem document below,
# not with the framework's own error body.
_bearer = HTTPBearer(auto_error=False, description="A token from `salesengine token create`.")

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="salesengine"'}
REFUSED = {"WWW-Authenticate": 'Bearer realm="salesengine", error="invalid_token"'}


# Dependencies that touch nothing but the request are ``async``: FastAPI runs a plain
# ``def`` one in its thread pool, and under load each such hop waits for a thread and
# for the GIL; only those that read the store (``principal``) and the endpoints do.


async def context(request: Request) -> ServiceContext:
    found = request.app.state.context
    assert isinstance(found, ServiceContext)
    return found


Context = Annotated[ServiceContext, Depends(context)]


def principal(
    ctx: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The principal of the request's token; 401 without one that authenticates."""
    if credentials is None:
        raise Problem(
            401,
            "unauthenticated",
            "send a token: Authorization: Bearer <token> (salesengine token create)",
            headers=CHALLENGE,
        )
    found = ctx.tokens.authenticate(credentials.credentials)
    if isinstance(found, Refusal):
        headers = CHALLENGE | {
            "WWW-Authenticate": CHALLENGE["WWW-Authenticate"] + ', error="invalid_token"'
        }
        raise Problem(401, f"token_{found.reason}", found.message, headers=headers)
    return found


def allowed(action: Action) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the request's principal, if its role may do ``action``; else 403."""

    async def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.may(action):
            raise Problem(
                403,
                "forbidden",
                f"{who.role.named} may not {action.value.replace('_', ' ')} (docs/access.md)",
            )
        return who

    return check


Reader = Annotated[Principal, Depends(allowed(Action.READ_DEALS))]
HistoryReader = Annotated[Principal, Depends(allowed(Action.READ_HISTORY))]
Writer = Annotated[Principal, Depends(allowed(Action.WRITE_COMMANDS))]
Anyone = Annotated[Principal, Depends(principal)]
