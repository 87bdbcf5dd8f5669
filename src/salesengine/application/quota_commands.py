"""The quota commands: pydantic models discriminated by ``cmd``, as the deal commands are
(``commands.py``), whose field types they reuse (docs/quotas.md)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
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

    def chosen_split(self) -> Literal["none", "quarterly", "monthly"] | tuple[Decimal, ...]:
        if self.split is None:
            return "quarterly" if self.quota_period.unit == "year" else "none"
        if isinstance(self.split, list):
            return tuple(self.split)
        return self.split


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


def quota_digest(command: SetQuota | ClearQuota) -> str:
    """What the command says, in 64 bits, as ``commands.command_digest`` for deals."""
    data = orjson.dumps(command.__dict__, default=_plain, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"no digest for {type(value).__name__}")  # pragma: no cover
