"""The command language: one pydantic model per command, discriminated by ``cmd``.

These models are the public contract of writers (CLI, JSON Lines import, Python API);
``command_language`` joins them with the account and quota commands and publishes the
whole language as JSON Schema.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    AllowInfNan,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StrictInt,
    StringConstraints,
    TypeAdapter,
    WithJsonSchema,
    model_validator,
)

from salesengine.application.names import NAME_MAX, clean_name, unicode_text
from salesengine.domain.key_info import Topic, details_problem
from salesengine.domain.policy import KEY_PATTERN
from salesengine.domain.values import ISO_START, outside_years


def _iso_text(value: Any) -> Any:
    # Lax datetime parsing would take numbers as Unix epochs; the language is ISO 8601.
    if not isinstance(value, str | datetime | date):
        raise ValueError("must be an ISO 8601 string")
    if isinstance(value, str) and not ISO_START.match(value):
        raise ValueError("must be ISO 8601 (YYYY-MM-DD, or with a time and offset)")
    return value


def _no_int(value: Any) -> Any:
    # Strict floats still take ints; an integer fact must stay an exact integer or fail.
    if isinstance(value, int):
        raise ValueError("an integer fact must fit in 64 bits")
    return value


def _to_utc(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None
    _in_years(utc)
    return utc


def _in_years(value: date) -> date:
    reason = outside_years(value)
    if reason is not None:
        raise ValueError(reason)
    return value


def _day_start(value: Any) -> Any:
    # A plain date is the start of that day in UTC, as on the command line and in the
    # service's query parameters (docs/rules.md, "Instants"); a time without an offset
    # stays refused: whose clock it was cannot be told.
    value = _iso_text(value)
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        day = date.fromisoformat(value)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    return value


# An instant written out in full, with its offset: a next step's due date means the end
# of its day (``Day``), and an XES timestamp is an ``xs:dateTime``.
OffsetInstant = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_to_utc)]
Instant = Annotated[
    AwareDatetime,
    BeforeValidator(_day_start),
    AfterValidator(_to_utc),
    WithJsonSchema({"type": "string", "anyOf": [{"format": "date-time"}, {"format": "date"}]}),
]


def _iso_day(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date, YYYY-MM-DD")
    return _iso_text(value)


Day = Annotated[date, BeforeValidator(_iso_day), AfterValidator(_in_years)]

Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX),
    AfterValidator(clean_name),
]
Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=4000),
    AfterValidator(unicode_text),
]
Key = Annotated[str, StringConstraints(pattern=KEY_PATTERN, max_length=64)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


def _positional(value: Decimal) -> Decimal:
    # 1e3 and 1000 are one amount: keep it in positional form, as reports and exports
    # print it; and -0 is 0 (no amount is negative).
    return Decimal(format(value.copy_abs() if value.is_zero() else value, "f"))


# Python's Decimal also reads 1_000 and other scripts' digits (١٠٠٠); an amount in a
# contract or an audit file is written with 0-9 only.
_AMOUNT_TEXT = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*", re.ASCII)


def _amount_text(value: Any) -> Any:
    if isinstance(value, str) and not _AMOUNT_TEXT.fullmatch(value):
        try:
            number = Decimal(value)
        except ArithmeticError:
            return value  # not a number at all: the decimal check says so
        if number.is_finite():
            raise ValueError("must be a number written with the digits 0-9, such as 1250.50")
    return value


Amount = Annotated[
    Decimal,
    Field(ge=0, max_digits=18, decimal_places=4, allow_inf_nan=False),
    BeforeValidator(_amount_text),
    AfterValidator(_positional),
]
FactValueIn = (
    StrictBool
    | Annotated[StrictInt, Field(ge=-(2**63), le=2**63 - 1)]
    | Annotated[float, Strict(), AllowInfNan(False), BeforeValidator(_no_int)]
    | Annotated[str, StringConstraints(max_length=4000), AfterValidator(unicode_text)]
)


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    id: Name | None = Field(
        default=None,
        description="Idempotency key: a command repeated under an id the deal already "
        "applied is skipped; a different command under that id is refused.",
    )
    deal: Name = Field(description="The deal's key, chosen by the writer.")
    at: Instant | None = Field(
        default=None,
        description="Effective time: ISO 8601 with UTC offset, or a date YYYY-MM-DD (the "
        "start of that day in UTC); defaults to now. "
        "May be backdated; at most 5 minutes in the future.",
    )
    by: Name | None = Field(default=None, description="The actor; defaults to the writer.")


class OpenDeal(_Command):
    cmd: Literal["open"]
    policy: Name
    account: Name | None = None
    owner: Name | None = None
    team: Name | None = None
    region: Name | None = None
    amount: Amount | None = None
    currency: Currency | None = None
    expected_close: Day | None = None
    facts: dict[Key, FactValueIn] = Field(
        default_factory=dict, description="Evidence known at opening (entry criteria)."
    )


class RecordFact(_Command):
    cmd: Literal["fact"]
    name: Key
    value: FactValueIn = True


class RetractFact(_Command):
    cmd: Literal["retract"]
    name: Key
    reason: Text | None = None


class Advance(_Command):
    cmd: Literal["advance"]
    to: Key


class Regress(_Command):
    cmd: Literal["regress"]
    to: Key
    reason: Text


class LogVisit(_Command):
    cmd: Literal["visit"]
    kind: Key = "face_to_face"
    effective: bool = Field(
        default=False,
        description="Face-to-face with the end customer and found or won an opportunity "
        "or solved a problem.",
    )
    attendees: list[Name] = Field(default_factory=list)
    note: Text | None = None


class SetNextStep(_Command):
    cmd: Literal["next_step"]
    action: Text
    due: OffsetInstant | Day = Field(
        union_mode="left_to_right",
        description="A date means by the end of that day (UTC); a time needs an offset.",
    )
    owner: Name | None = None


class CompleteNextStep(_Command):
    cmd: Literal["done"]
    note: Text | None = None


class ChangeAmount(_Command):
    cmd: Literal["amount"]
    amount: Amount
    currency: Currency | None = None


class ChangeExpectedClose(_Command):
    cmd: Literal["expected_close"]
    expected_close: Day | None


class ChangeOwner(_Command):
    cmd: Literal["owner"]
    owner: Name
    team: Name | None = None
    region: Name | None = None


class MarkWon(_Command):
    cmd: Literal["won"]


class MarkLost(_Command):
    cmd: Literal["lost"]
    reason: Text | None = None
    competitor: Name | None = None


class Abandon(_Command):
    cmd: Literal["abandon"]
    reason: Text | None = None


class NextStepIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    action: Text
    due: OffsetInstant | Day = Field(union_mode="left_to_right")
    owner: Name | None = None


class Reopen(_Command):
    cmd: Literal["reopen"]
    to: Key
    reason: Text | None = None
    next_step: NextStepIn | None = Field(
        default=None, description="The reopened deal's next step (a closed deal has none)."
    )


# The case review's key information (domain/key_info.py): one model per topic, each
# with its own typed fields; the command names the topic in its ``info``.

KeyInfoList = Annotated[list[Name], Field(max_length=100)]
KeyInfoTexts = Annotated[list[Text], Field(max_length=100)]


class _Info(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    def details(self) -> dict[str, str | list[str]]:
        """The topic's fields as the event keeps them: plain JSON, the unset left out."""
        found: dict[str, str | list[str]] = {}
        for name, value in self.__dict__.items():
            if name == "topic" or value is None or value == []:
                continue
            if isinstance(value, list):
                found[name] = [str(v) for v in value]
            elif isinstance(value, date):
                found[name] = value.isoformat()
            else:
                found[name] = str(value)
        return found

    @model_validator(mode="after")
    def _whole(self) -> _Info:
        problem = details_problem(self.__dict__["topic"], self.details())
        if problem is not None:
            raise ValueError(problem)
        return self


class ScheduleInfo(_Info):
    """The customer's timetable (时间表) and how it was derived."""

    topic: Literal["schedule"]
    selection_start: Day | None = None
    selection_end: Day | None = None
    vendor_decision: Day | None = None
    signing: Day | None = None
    implementation_start: Day | None = None
    go_live: Day | None = None
    derived_from: Text | None = Field(
        default=None, description="How the dates were derived (who said so, from what)."
    )


class BudgetInfo(_Info):
    """The expected contract amount (预算)."""

    topic: Literal["budget"]
    amount: Amount
    currency: Currency | None = Field(
        default=None, description="ISO 4217; defaults to the deal's currency then."
    )


class RequirementInfo(_Info):
    """What the customer needs (需求)."""

    topic: Literal["requirement"]
    motivation: Text | None = None
    problems: Text | None = Field(default=None, description="The problems to solve.")
    scope: Text | None = None
    modules: KeyInfoList = Field(default_factory=list)
    services: KeyInfoList = Field(default_factory=list)


class DecisionInfo(_Info):
    """How the customer decides (决策): the process and the selection criteria."""

    topic: Literal["decision"]
    process: Text | None = None
    criteria: KeyInfoTexts = Field(default_factory=list, description="Selection criteria.")
    contacts: KeyInfoList = Field(
        default_factory=list,
        description="The people of the decision chain, by their contact key or name.",
    )
    outside_roles: Text | None = Field(
        default=None, description="The role of a parent company, HQ or outside consultants."
    )


class CompetitionInfo(_Info):
    """Who competes (竞争), who leads and why."""

    topic: Literal["competition"]
    competitors: KeyInfoList = Field(default_factory=list)
    leader: Name | None = Field(default=None, description="Who leads (us, or a competitor).")
    why: Text | None = None


class EvaluationInfo(_Info):
    """The customer's key evaluation items (客户兴奋点)."""

    topic: Literal["evaluation"]
    items: KeyInfoTexts = Field(default_factory=list)


KeyInfoIn = Annotated[
    ScheduleInfo | BudgetInfo | RequirementInfo | DecisionInfo | CompetitionInfo | EvaluationInfo,
    Field(discriminator="topic"),
]


class RecordKeyInfo(_Command):
    cmd: Literal["key_info"]
    info: KeyInfoIn = Field(
        description="One topic, stated whole: it replaces the topic's earlier record."
    )
    evidence: Text | None = Field(
        default=None, description="What the information rests on (a document, a meeting)."
    )


class RetractKeyInfo(_Command):
    cmd: Literal["retract_key_info"]
    topic: Topic
    reason: Text | None = None


Command = Annotated[
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
    | RetractKeyInfo,
    Field(discriminator="cmd"),
]

COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)
# The adapter's core validator, called directly: the adapter's Python wrapper cost about a
# fifth of the validation itself on every imported line.
_VALIDATE: Callable[[Any], Command] = COMMAND_ADAPTER.validator.validate_python

COMMAND_NAMES: tuple[str, ...] = (
    "open",
    "fact",
    "retract",
    "advance",
    "regress",
    "visit",
    "next_step",
    "done",
    "amount",
    "expected_close",
    "owner",
    "won",
    "lost",
    "abandon",
    "reopen",
    "key_info",
    "retract_key_info",
)


def command_digest(command: BaseModel) -> str:
    """What a command of any family (deal, account, quota) says, in 64 bits: every field
    as validated (instants in UTC, amounts positional), object keys sorted. A retry
    under the same id has the same digest; another command under that id almost surely
    not.

    orjson over the fields, rather than pydantic's serializer: it is computed for every
    command with an id, and took half the time."""
    data = orjson.dumps(command.__dict__, default=_plain, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, BaseModel):  # a nested model: a reopening's next step
        return value.__dict__
    raise TypeError(f"no digest for {type(value).__name__}")  # pragma: no cover


def parse_command(data: Any) -> Command:
    """Validate a decoded JSON object as a command (raises pydantic's ValidationError)."""
    return _VALIDATE(data)
