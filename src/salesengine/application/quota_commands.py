"""The quota commands: pydantic models discriminated by ``cmd``, as the deal commands are
(``commands.py``), whose field types they reuse (docs/quotas.md)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from salesengine.application.commands import Amount, Currency, Instant, Name, Text
from salesengine.domain.quota import QuotaPeriod, SubjectKind
from salesengine.domain.values import outside_years


def _period(value: str) -> str:
    period = QuotaPeriod.parse(value)  # ValueError names the forms
    reason = outside_years(date(period.year, 1, 1))
    if reason is not None:
        raise ValueError(reason)
    return period.name  # 2026-q1 is 2026-Q1


PeriodName = Annotated[str, AfterValidator(_period)]


class _QuotaCommand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    id: Name | None = Field(
        default=None,
        description="Idempotency key: repeated under an id the subject-year already applied, "
        "the command is skipped; a different command under that id is refused.",
    )
    rep: Name | None = Field(default=None, description="The rep whose quota this is.")
    team: Name | None = Field(
        default=None,
        validate_default=True,
        description="The team whose quota this is; with rep, the team the rep's quota adds up to.",
    )
    period: PeriodName = Field(description="YYYY (a year), YYYY-Qn (a quarter) or YYYY-MM.")
    at: Instant | None = Field(
        default=None,
        description="Effective time: when the quota took effect (ISO 8601 with offset, or a "
        "date YYYY-MM-DD: the start of that day in UTC); "
        "defaults to now. May be backdated.",
    )
    by: Name | None = Field(default=None, description="The actor; defaults to the writer.")

    @field_validator("team")
    @classmethod
    def _a_subject(cls, team: str | None, info: ValidationInfo) -> str | None:
        # Checked on the team, which follows the rep: the error then names a field.
        if team is None and info.data.get("rep") is None and "rep" in info.data:
            raise ValueError("give the rep or the team whose quota this is (rep or team)")
        return team

    @property
    def kind(self) -> SubjectKind:
        return "rep" if self.rep is not None else "team"

    @property
    def subject(self) -> str:
        subject = self.rep if self.rep is not None else self.team
        assert subject is not None  # the validator saw to it
        return subject

    @property
    def quota_period(self) -> QuotaPeriod:
        return QuotaPeriod.parse(self.period)

    @property
    def stream(self) -> str:
        """The subject-year, as messages name it."""
        return f"{self.kind} '{self.subject}' {self.quota_period.year}"


SplitIn = Literal["none", "quarterly", "monthly"] | list[Amount]


class SetQuota(_QuotaCommand):
    cmd: Literal["set_quota"]
    amount: Amount
    currency: Currency | None = Field(
        default=None,
        description="ISO 4217 code; default the currency of the subject-year's quotas "
        "(required for its first).",
    )
    split: SplitIn | None = Field(
        default=None,
        description="Break the period into parts: quarterly or monthly (evenly, the "
        "remainder one cent each to the earliest parts), none, or the parts' amounts in "
        "order, summing to the amount. Default: quarterly for a year, none otherwise.",
    )

    @field_validator("split", mode="wrap")
    @classmethod
    def _split_last(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        # A split is judged only once the period, amount and currency it divides are
        # valid (info.data lacks a field that failed): a refusal then names the field at
        # fault instead of a split that merely could not be read beside it.
        if not {"period", "amount", "currency"} <= info.data.keys():
            return None  # the model is refused for the other fields' errors
        try:
            return handler(value)
        except ValidationError:
            raise ValueError(_split_problem(value)) from None

    def chosen_split(self) -> Literal["none", "quarterly", "monthly"] | tuple[Decimal, ...]:
        if self.split is None:
            return "quarterly" if self.quota_period.unit == "year" else "none"
        if isinstance(self.split, list):
            return tuple(self.split)
        return self.split


_AMOUNT: TypeAdapter[Decimal] = TypeAdapter(Amount)
SPLIT_FORMS = "none, quarterly or monthly, or the parts' amounts in order"


def _split_problem(value: Any) -> str:
    """Why a split cannot be read: the first part that is no amount, or what a split is
    (a union's error would list each form it is not)."""
    if isinstance(value, list):
        for n, part in enumerate(value, start=1):
            try:
                _AMOUNT.validate_python(part)
            except ValidationError as e:
                return f"part {n} ({part!r}) is not an amount: {e.errors()[0]['msg']}"
    return SPLIT_FORMS


class ClearQuota(_QuotaCommand):
    cmd: Literal["clear_quota"]
    reason: Text | None = None


QuotaCommand = Annotated[SetQuota | ClearQuota, Field(discriminator="cmd")]
QUOTA_COMMAND_NAMES: tuple[str, ...] = ("set_quota", "clear_quota")

QUOTA_ADAPTER: TypeAdapter[QuotaCommand] = TypeAdapter(QuotaCommand)
_VALIDATE: Callable[[Any], QuotaCommand] = QUOTA_ADAPTER.validate_python


def parse_quota_command(data: Any) -> QuotaCommand:
    """Validate a decoded JSON object as a quota command (pydantic's ValidationError)."""
    return _VALIDATE(data)
