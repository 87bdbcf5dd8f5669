"""``POST /api/v1/commands``: the command language of the JSON Lines import (deals,
accounts and quotas), one command or a batch per request, all applied or none.

The actor of every event is the token's principal: a command naming ``by`` is refused,
not overridden, so a writer never believes it recorded someone else. Each command is
checked against the caller's role (quota commands need ``write_quotas``) and against
its scope before and after it applies (docs/access.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body
from pydantic import Field

from salesengine.access.roles import Action
from salesengine.application.accounts import AccountResult
from salesengine.application.all_or_nothing import AnyResult, execute_all
from salesengine.application.command_language import AnyCommand, is_quota_command
from salesengine.application.quotas import QuotaResult
from salesengine.application.results import RefusedAt
from salesengine.service.auth import Context, Writer
from salesengine.service.openapi import MEANING, described
from salesengine.service.params import KnownQuery
from salesengine.service.problems import Problem, refusal
from salesengine.service.schemas import Closed

router = APIRouter(prefix="/api/v1", tags=["commands"], dependencies=[KnownQuery])


class Applied(Closed):
    deal: str
    status: Literal["applied", "duplicate"]  # duplicate: a retry under an id already applied
    event: str | None
    version: int
    position: str  # the deal's stage while open, else its outcome


class AccountApplied(Closed):
    account: str
    status: Literal["applied", "duplicate"]
    event: str | None
    version: int


class QuotaApplied(Closed):
    kind: Literal["rep", "team"]
    subject: str = Field(description="The rep or the team whose quotas these are.")
    year: int
    period: str
    status: Literal["applied", "duplicate"]
    event: str | None
    version: int = Field(description="The version of the subject-year's quota stream.")


class CommandsApplied(Closed):
    results: list[Applied | AccountApplied | QuotaApplied] = Field(
        description="One per command, in order: a deal's (``deal``), an account's "
        "(``account``) or a quota's (``kind`` and ``subject``)."
    )


@router.post(
    "/commands",
    summary="Apply one command or a batch, all or nothing",
    responses=described(
        {
            401: MEANING[401],
            403: "The role may not write (or not quotas), or the deal, account or quota "
            "would leave your scope.",
            404: "A command names a deal or account that does not exist (or is not yours).",
            409: "The deal or account exists already, an id was reused with another body, "
            "or another writer changed what the batch writes first (a version conflict).",
            413: "The body is larger than the service accepts, or holds too many commands.",
            415: MEANING[415],
            422: "A malformed command (errors names the field), or the engine's refusal "
            "(code says which; a guard's names the stage and the unmet criteria).",
            503: MEANING[503],
        }
    ),
)
def commands(
    ctx: Context,
    who: Writer,
    body: Annotated[
        AnyCommand | list[AnyCommand], Body(description="A command, or a list of them.")
    ],
) -> CommandsApplied:
    batch = body if isinstance(body, list) else [body]
    if not batch:
        raise Problem(
            422,
            "invalid_request",
            "body: an empty list: send one command or more",
            errors=[{"field": "body", "message": "an empty list"}],
        )
    if len(batch) > ctx.settings.max_batch:
        raise Problem(
            413,
            "batch_too_large",
            f"body: {len(batch)} commands; at most {ctx.settings.max_batch} per request",
        )
    signed: list[AnyCommand] = []
    for index, command in enumerate(batch):
        at = index if isinstance(body, list) else None
        if is_quota_command(command) and not who.may(Action.WRITE_QUOTAS):
            # Before anything is looked up: the role alone decides it.
            detail = f"{who.role.named} may not write quotas (docs/access.md)"
            if at is None:
                raise Problem(403, "forbidden", detail)
            raise Problem(403, "forbidden", detail, index=at)
        if command.by is not None:
            where = f"body[{index}].by" if isinstance(body, list) else "body.by"
            message = "the actor is the token's principal: leave out 'by'"
            raise Problem(
                422,
                "invalid_request",
                f"{where}: {message}",
                errors=[{"field": where, "message": message}],
            )
        signed.append(command.model_copy(update={"by": who.name}))

    provenance = {"source": "api"} | ({"token": who.token_id} if who.token_id else {})
    try:
        results = execute_all(ctx.engine, signed, provenance=provenance, admits=who.scope.admits)
    except RefusedAt as e:
        raise refusal(e.error, at=e.index if isinstance(body, list) else None) from None
    return CommandsApplied(results=[_answer(r) for r in results])


def _answer(r: AnyResult) -> Applied | AccountApplied | QuotaApplied:
    if isinstance(r, AccountResult):
        return AccountApplied(account=r.account, status=r.status, event=r.event, version=r.version)
    if isinstance(r, QuotaResult):
        status: Literal["applied", "duplicate"] = (
            "duplicate" if r.status == "duplicate" else "applied"
        )
        return QuotaApplied(
            kind=r.kind,
            subject=r.subject,
            year=r.year,
            period=r.period,
            status=status,
            event=r.event,
            version=r.version,
        )
    return Applied(
        deal=r.deal, status=r.status, event=r.event, version=r.version, position=r.position
    )
