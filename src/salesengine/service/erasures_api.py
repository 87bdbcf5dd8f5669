"""``POST /api/v1/erasures``: erase a data subject's personal data, as ``salesengine
erase`` does: its key deleted and an erasure event recorded, in one transaction, by the
token's principal. Only a role with ``erase_personal_data`` may (docs/privacy.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import Field

from salesengine.access.principal import Principal
from salesengine.access.roles import Action
from salesengine.application.erasure import SYNTAX, BadSubject, erase
from salesengine.application.erasure_receipt import receipt, refused
from salesengine.domain.account import UnknownContact
from salesengine.domain.errors import CommandRefused
from salesengine.service.auth import Context, allowed
from salesengine.service.openapi import MEANING, described
from salesengine.service.params import KnownQuery
from salesengine.service.problems import Problem, refusal
from salesengine.service.schemas import Closed

router = APIRouter(prefix="/api/v1", tags=["privacy"], dependencies=[KnownQuery])

Eraser = Annotated[Principal, Depends(allowed(Action.ERASE_PERSONAL_DATA))]


class ErasureRequest(Closed):
    subject: str = Field(
        min_length=1,
        max_length=1000,
        description=f"Whose personal data: {SYNTAX}.",
        examples=["contact:ACME/wang", "person:Wang Wei", "deal:ACME-1", "account:ACME"],
    )


class ErasureReceipt(Closed):
    subject: str = Field(description="The subject as it was named.")
    kind: Literal["contact", "person", "deal", "account"]
    keys_deleted: int = Field(ge=1, description="How many data subjects' keys were deleted.")
    key_ids: list[str] = Field(
        description="Their opaque ids, as the erasure event records them (no personal data)."
    )
    erasure_id: str = Field(description="The id of the erasure event.")
    recorded_at: datetime = Field(description="When the erasure was recorded.")
    by: str = Field(description="Who erased: the token's principal.")
    scrubbed: bool = Field(
        description="No copy of the deleted keys is left in the store's own files (false: "
        "SQLite's write-ahead log could not be emptied; docs/privacy.md)."
    )


@router.post(
    "/erasures",
    summary="Erase a data subject's personal data, for good",
    status_code=201,
    responses=described(
        {
            401: MEANING[401],
            403: "The role may not erase personal data (an admin's alone may).",
            404: "The deal, account or contact named does not exist.",
            413: MEANING[413],
            415: MEANING[415],
            422: "A malformed body, a subject in none of the four forms (code bad_subject), "
            "or nothing stored encrypted for it (code nothing_to_erase); nothing changed.",
            503: MEANING[503],
        }
    ),
)
def erasures(ctx: Context, who: Eraser, body: ErasureRequest) -> ErasureReceipt:
    """Delete the subject's key and record an erasure event naming only its opaque id,
    in one transaction. What was sealed under the key then reads as "[erased]"
    everywhere; figures and the audit chain are unchanged. It cannot be undone."""
    try:
        provenance = {"source": "api"} | ({"token": who.token_id} if who.token_id else {})
        erased = erase(ctx.engine, body.subject, actor=who.name, provenance=provenance)
    except BadSubject as e:
        raise Problem(
            422, e.code, e.message, errors=[{"field": "body.subject", "message": e.message}]
        ) from None
    except CommandRefused as e:  # unknown deal, account or contact; nothing to erase
        status = 404 if isinstance(e, UnknownContact) else refusal(e).status
        raise Problem(status, e.code, refused(body.subject, e.message)) from None
    return ErasureReceipt.model_validate(receipt(erased, who.name))
