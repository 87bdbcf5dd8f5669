"""The account commands: one pydantic model per command, discriminated by ``cmd``, in the
field types of the deal commands (``application.commands``). docs/accounts.md lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from salesengine.application.commands import Amount, Currency, Instant, Key, Name, Text

Role = Literal["initiator", "decision_maker", "influencer", "end_user", "policy_maker"]
Customer = Literal["new", "existing"]
Grade = Literal["A", "B", "C", "D"]
Support = Annotated[int, Field(ge=-2, le=2, strict=True)]
Percent = Annotated[
    Decimal, Field(ge=0, le=100, max_digits=6, decimal_places=2, allow_inf_nan=False)
]


class _AccountCommand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    id: Name | None = Field(
        default=None,
        description="Idempotency key: a command repeated under an id the account already "
        "applied is skipped; a different command under that id is refused.",
    )
    account: Name = Field(description="The account's key, chosen by the writer.")
    at: Instant | None = Field(
        default=None,
        description="Effective time: ISO 8601 with UTC offset, or a date YYYY-MM-DD (the "
        "start of that day in UTC); defaults to now. "
        "May be backdated; at most 5 minutes in the future.",
    )
    by: Name | None = Field(default=None, description="The actor; defaults to the writer.")


class OpenAccount(_AccountCommand):
    cmd: Literal["account_open"]
    name: Name | None = Field(default=None, description="Defaults to the key.")
    owner: Name = Field(description="The responsible rep: every account has one.")
    team: Name | None = None
    region: Name | None = None
    industry: Name | None = None
    customer: Customer | None = None
    adopted_from: Name | None = Field(
        default=None, description="The deal whose account string this account records."
    )


class ChangeAccount(_AccountCommand):
    cmd: Literal["account_change"]
    name: Name | None = None
    owner: Name | None = None
    team: Name | None = None
    region: Name | None = None
    industry: Name | None = None
    customer: Customer | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> ChangeAccount:
        fields = (self.name, self.owner, self.team, self.region, self.industry, self.customer)
        if all(v is None for v in fields):
            raise ValueError("give at least one of name, owner, team, region, industry, customer")
        return self


class SetBuyingPower(_AccountCommand):
    cmd: Literal["buying_power"]
    amount: Amount = Field(description="Yearly purchase volume (BP).")
    currency: Currency
    note: Text | None = None


class SetShareOfWallet(_AccountCommand):
    cmd: Literal["share_of_wallet"]
    percent: Percent = Field(description="Our share of the account's purchases, 0-100.")
    note: Text | None = None


class SetGrade(_AccountCommand):
    cmd: Literal["grade"]
    grade: Grade | None = Field(
        description="A, B, C or D; null: back to the grade derived from the account's deals."
    )
    reason: Text | None = None


class AddContact(_AccountCommand):
    cmd: Literal["contact_add"]
    contact: Name = Field(description="The contact's key within the account.")
    name: Name
    title: Name | None = None
    role: Role
    support: Support = Field(default=0, description="-2 opponent .. 0 neutral .. +2 supporter.")
    reports_to: Name | None = Field(default=None, description="Another contact's key.")


class ChangeContact(_AccountCommand):
    cmd: Literal["contact_change"]
    contact: Name
    name: Name | None = None
    title: Name | None = None
    role: Role | None = None
    support: Support | None = None
    reports_to: Name | None = None
    clear: list[Literal["title", "reports_to"]] = Field(
        default_factory=list, description="Fields to set to none (reports_to: to nobody)."
    )

    @model_validator(mode="after")
    def _changes_something(self) -> ChangeContact:
        fields = (self.name, self.title, self.role, self.support, self.reports_to)
        if all(v is None for v in fields) and not self.clear:
            raise ValueError("give at least one of name, title, role, support, reports_to, clear")
        for name in self.clear:
            if getattr(self, name) is not None:
                raise ValueError(f"{name} is both given and cleared")
        return self


class ContactLeft(_AccountCommand):
    cmd: Literal["contact_left"]
    contact: Name
    reason: Text | None = None


class LogActivity(_AccountCommand):
    cmd: Literal["activity"]
    kind: Key = Field(
        description="visit, call, seminar, product_launch, gift, dinner, email, ... (养单)."
    )
    effective: bool = Field(
        default=False,
        description="Face-to-face with the end customer and found or won an opportunity "
        "or solved a problem.",
    )
    attendees: list[Name] = Field(default_factory=list, description="Contact keys or names.")
    note: Text | None = None


AccountCommand = Annotated[
    OpenAccount
    | ChangeAccount
    | SetBuyingPower
    | SetShareOfWallet
    | SetGrade
    | AddContact
    | ChangeContact
    | ContactLeft
    | LogActivity,
    Field(discriminator="cmd"),
]

ACCOUNT_COMMAND_NAMES: tuple[str, ...] = (
    "account_open",
    "account_change",
    "buying_power",
    "share_of_wallet",
    "grade",
    "contact_add",
    "contact_change",
    "contact_left",
    "activity",
)

ACCOUNT_COMMAND_ADAPTER: TypeAdapter[AccountCommand] = TypeAdapter(AccountCommand)
_VALIDATE: Callable[[Any], AccountCommand] = ACCOUNT_COMMAND_ADAPTER.validate_python


def parse_account_command(data: Any) -> AccountCommand:
    """Validate a decoded JSON object as an account command (pydantic's ValidationError)."""
    return _VALIDATE(data)
