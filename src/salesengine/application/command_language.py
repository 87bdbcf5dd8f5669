"""The whole command language: the deal commands (``commands``), the account commands
(``account_commands``) and the quota commands (``quota_commands``) as one union
discriminated by ``cmd``.

Every writer of JSON (the JSON Lines import, ``POST /api/v1/commands``) reads a line or
a body through ``parse_any_command``; ``language_schema()`` is what ``salesengine
schema`` prints and docs/commands.schema.json publishes. The three families keep their
own modules (each has its own service and aggregate); only this one knows them all,
which is also why it is not ``commands.py``: the account and quota models import that.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeGuard, get_args

from pydantic import Field, TypeAdapter

from salesengine.application.account_commands import (
    ACCOUNT_COMMAND_NAMES,
    AccountCommand,
    AddContact,
    ChangeAccount,
    ChangeContact,
    ContactLeft,
    LogActivity,
    OpenAccount,
    SetBuyingPower,
    SetGrade,
    SetShareOfWallet,
)
from salesengine.application.commands import (
    COMMAND_NAMES,
    Abandon,
    Advance,
    ChangeAmount,
    ChangeExpectedClose,
    ChangeOwner,
    Command,
    CompleteNextStep,
    LogVisit,
    MarkLost,
    MarkWon,
    OpenDeal,
    RecordFact,
    RecordKeyInfo,
    Regress,
    Reopen,
    RetractFact,
    RetractKeyInfo,
    SetNextStep,
)
from salesengine.application.quota_commands import (
    QUOTA_COMMAND_NAMES,
    ClearQuota,
    QuotaCommand,
    SetQuota,
)

AnyCommand = Annotated[
    OpenDeal
    | RecordFact
    | RetractFact
    | Advance
    | Regress
    | LogVisit
    | SetNextStep
    | CompleteNextStep
    | ChangeAmount
    | ChangeExpectedClose
    | ChangeOwner
    | MarkWon
    | MarkLost
    | Abandon
    | Reopen
    | RecordKeyInfo
    | RetractKeyInfo
    | OpenAccount
    | ChangeAccount
    | SetBuyingPower
    | SetShareOfWallet
    | SetGrade
    | AddContact
    | ChangeContact
    | ContactLeft
    | LogActivity
    | SetQuota
    | ClearQuota,
    Field(discriminator="cmd"),
]

ALL_COMMAND_NAMES: tuple[str, ...] = COMMAND_NAMES + ACCOUNT_COMMAND_NAMES + QUOTA_COMMAND_NAMES


def _members(family: Any) -> tuple[type, ...]:
    """The command classes of a family's discriminated union (``Annotated[A | B, ...]``)."""
    return get_args(get_args(family)[0])


# Read from each family's own union, so that a command added there is known here too.
_DEAL_CLASSES = _members(Command)
_ACCOUNT_CLASSES = _members(AccountCommand)

LANGUAGE_ADAPTER: TypeAdapter[AnyCommand] = TypeAdapter(AnyCommand)
# The core validator, as ``commands.parse_command`` calls it: the import's hot path.
_VALIDATE: Callable[[Any], AnyCommand] = LANGUAGE_ADAPTER.validator.validate_python


def parse_any_command(data: Any) -> AnyCommand:
    """Validate a decoded JSON object as a command of any family (pydantic's
    ValidationError names the field)."""
    return _VALIDATE(data)


def is_deal_command(command: AnyCommand) -> TypeGuard[Command]:
    return isinstance(command, _DEAL_CLASSES)


def is_account_command(command: AnyCommand) -> TypeGuard[AccountCommand]:
    return isinstance(command, _ACCOUNT_CLASSES)


def is_quota_command(command: AnyCommand) -> TypeGuard[QuotaCommand]:
    return isinstance(command, SetQuota | ClearQuota)


def language_schema() -> dict[str, Any]:
    """The JSON Schema of one line (or one API command): every family's commands."""
    schema = LANGUAGE_ADAPTER.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "salesengine command (one JSON object per line)"
    return schema
