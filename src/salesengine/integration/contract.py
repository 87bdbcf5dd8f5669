"""The integration contract: what subscribers receive, kept apart from the domain events.

Domain events are the store's private vocabulary and may change shape with the code;
these models are the published one. Each type carries its schema version in its name
(``DealStageChangedV1``) and in every message (``schema_version``): a breaking change
is a new model and a new ``type`` suffix, never an edit of a released one.

Subjects read ``salesengine.deal.<policy>.<event>`` (``deal.<policy>.<event>`` as a
RabbitMQ routing key), so a subscriber filters by event type, by policy, or both, with
the broker's own wildcards: ``salesengine.deal.*.stage_changed``,
``salesengine.deal.seven-stage.>``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

SCHEMA_VERSION: Literal[1] = 1
PREFIX = "salesengine"

# Amounts travel as strings: a JSON number would lose cents in a float reader.
Money = Annotated[
    Decimal,
    PlainSerializer(lambda v: format(v, "f"), return_type=str, when_used="json"),
    Field(description='a decimal amount, as a string, e.g. "12500.00"'),
]

# The policy version (its fingerprint) that decided an opening or a stage change. Added
# to schema version 1 with a default, so messages published before it still parse.
PolicyVersion = Annotated[
    str | None,
    Field(
        description="the fingerprint of the policy version that decided the event (null "
        "only in messages published before this field was added)"
    ),
]

# A fact's value as the command language takes it; the order keeps a JSON true a bool
# and 1 an int (pydantic's smart union picks the exact type first).
FactValue = bool | int | float | str


class IntegrationEvent(BaseModel):
    """What every message holds, whatever its type."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: UUID = Field(
        description="the event's id, unique to its store and stable across relays and "
        "replays: use it to deduplicate"
    )
    type: str
    schema_version: Literal[1] = SCHEMA_VERSION
    store_id: UUID = Field(description="the id of the store the event comes from")
    position: int = Field(ge=1, description="the event's position in the store's global log")
    deal_id: UUID = Field(description="the deal's id, unique to its store")
    deal: str = Field(description="the deal's own key, as its writer named it")
    version: int = Field(ge=1, description="the event's version within its deal, from 1")
    policy: str
    effective_at: datetime = Field(description="when it happened")
    recorded_at: datetime = Field(description="when the engine recorded it")
    actor: str

    @property
    def subject(self) -> str:
        return subject(self.type, self.policy)


class DealOpenedV1(IntegrationEvent):
    """A deal was opened in its policy's first (or a given) stage."""

    type: Literal["deal.opened"] = "deal.opened"
    stage: str
    probability: int | None = Field(
        description="the stage's win probability in percent, under policy_version"
    )
    policy_version: PolicyVersion = None
    amount: Money | None
    currency: str | None
    account: str | None
    owner: str | None
    team: str | None
    region: str | None
    expected_close: date | None


class DealStageChangedV1(IntegrationEvent):
    """A deal moved to another stage: forward, back, or out of an outcome (reopened)."""

    type: Literal["deal.stage_changed"] = "deal.stage_changed"
    stage_from: str = Field(description="a stage, or an outcome for a reopened deal")
    stage_to: str
    direction: Literal["advanced", "regressed", "reopened"]
    probability: int | None = Field(
        description="the new stage's win probability in percent, under policy_version"
    )
    policy_version: PolicyVersion = None
    amount: Money | None = Field(description="the deal's amount as of the change")
    currency: str | None
    reason: str | None


class DealVisitLoggedV1(IntegrationEvent):
    """A visit (call, meeting, demo) with the deal's account was logged."""

    type: Literal["deal.visit_logged"] = "deal.visit_logged"
    kind: str
    effective: bool
    attendees: list[str]
    note: str | None


class DealNextStepSetV1(IntegrationEvent):
    """The deal's next step was set: what, by when, by whom."""

    type: Literal["deal.next_step_set"] = "deal.next_step_set"
    action: str
    due: datetime
    owner: str


class DealNextStepCompletedV1(IntegrationEvent):
    """The deal's open next step was done."""

    type: Literal["deal.next_step_completed"] = "deal.next_step_completed"
    note: str | None


class DealAmountChangedV1(IntegrationEvent):
    """The deal's amount was set or corrected, in force from ``effective_at``.

    A correction may be backdated: it then also changes the amount the deal had at its
    later events, which their messages (sent before it) do not show."""

    type: Literal["deal.amount_changed"] = "deal.amount_changed"
    amount: Money
    currency: str


class DealOwnerChangedV1(IntegrationEvent):
    """The deal changed hands (and perhaps team or region), from ``effective_at``."""

    type: Literal["deal.owner_changed"] = "deal.owner_changed"
    owner: str
    team: str | None = Field(description="the new team; null: the team did not change")
    region: str | None = Field(description="the new region; null: the region did not change")


class DealExpectedCloseChangedV1(IntegrationEvent):
    """The date the deal is expected to close was set, moved or cleared."""

    type: Literal["deal.expected_close_changed"] = "deal.expected_close_changed"
    expected_close: date | None = Field(description="null: no expected close any more")


class DealFactV1(IntegrationEvent):
    """What every fact's event holds: the fact's name."""

    name: str


class DealFactRecordedV1(DealFactV1):
    """A fact (a piece of evidence, e.g. an entry criterion) was recorded on the deal."""

    type: Literal["deal.fact_recorded"] = "deal.fact_recorded"
    value: FactValue


class DealFactRetractedV1(DealFactV1):
    """A fact recorded on the deal was withdrawn."""

    type: Literal["deal.fact_retracted"] = "deal.fact_retracted"
    reason: str | None


class DealKeyInfoRecordedV1(IntegrationEvent):
    """A topic of the case review's key information was recorded on the deal, stated
    whole: it replaces the topic's earlier record (docs/review.md)."""

    type: Literal["deal.key_info_recorded"] = "deal.key_info_recorded"
    topic: Literal["schedule", "budget", "requirement", "decision", "competition", "evaluation"]
    details: dict[str, str | list[str]] = Field(
        description="the topic's fields: dates as YYYY-MM-DD, amounts as decimal strings, "
        "lists of names or texts"
    )
    evidence: str | None


class DealKeyInfoRetractedV1(IntegrationEvent):
    """A topic of the deal's key information was withdrawn."""

    type: Literal["deal.key_info_retracted"] = "deal.key_info_retracted"
    topic: str
    reason: str | None


class DealClosedV1(IntegrationEvent):
    """What every outcome holds."""

    stage_from: str = Field(description="the stage the deal closed from")
    amount: Money | None = Field(description="the deal's amount as of the close")
    currency: str | None
    policy_version: PolicyVersion = None


class DealWonV1(DealClosedV1):
    """The deal was won."""

    type: Literal["deal.won"] = "deal.won"


class DealLostV1(DealClosedV1):
    """The deal was lost, perhaps to a named competitor."""

    type: Literal["deal.lost"] = "deal.lost"
    reason: str | None
    competitor: str | None


class DealAbandonedV1(DealClosedV1):
    """The deal was abandoned: no decision, no longer pursued."""

    type: Literal["deal.abandoned"] = "deal.abandoned"
    reason: str | None


MODELS: dict[str, type[IntegrationEvent]] = {
    "deal.opened": DealOpenedV1,
    "deal.stage_changed": DealStageChangedV1,
    "deal.visit_logged": DealVisitLoggedV1,
    "deal.next_step_set": DealNextStepSetV1,
    "deal.next_step_completed": DealNextStepCompletedV1,
    "deal.amount_changed": DealAmountChangedV1,
    "deal.owner_changed": DealOwnerChangedV1,
    "deal.expected_close_changed": DealExpectedCloseChangedV1,
    "deal.fact_recorded": DealFactRecordedV1,
    "deal.fact_retracted": DealFactRetractedV1,
    "deal.key_info_recorded": DealKeyInfoRecordedV1,
    "deal.key_info_retracted": DealKeyInfoRetractedV1,
    "deal.won": DealWonV1,
    "deal.lost": DealLostV1,
    "deal.abandoned": DealAbandonedV1,
}
TYPES = tuple(MODELS)

# A policy name becomes one subject token: NATS and RabbitMQ split on dots, and treat
# '*', '>' and '#' as wildcards, so those (and blanks) are replaced.
_UNSAFE = re.compile(r"[.*>#\s]")


def policy_token(policy: str) -> str:
    return _UNSAFE.sub("_", policy) or "_"


def subject(event_type: str, policy: str) -> str:
    """``salesengine.deal.<policy>.<event>``, e.g. ``salesengine.deal.seven-stage.won``."""
    name = event_type.removeprefix("deal.")
    return f"{PREFIX}.deal.{policy_token(policy)}.{name}"


def routing_key(subject: str) -> str:
    """A subject (or filter) as a RabbitMQ routing key: ``deal.<policy>.<event>``."""
    return subject.removeprefix(f"{PREFIX}.")


def subject_filter(event_type: str | None = None, policy: str | None = None) -> str:
    """The NATS-style filter for one type, one policy, both, or everything."""
    token = policy_token(policy) if policy else "*"
    name = event_type.removeprefix("deal.") if event_type else "*"
    return f"{PREFIX}.deal.{token}.{name}"


def parse(payload: bytes | str) -> IntegrationEvent:
    """Any message back into its model, by its ``type``; a ValueError names what is wrong."""
    probe = _Probe.model_validate_json(payload)
    model = MODELS.get(probe.type)
    if model is None:
        raise ValueError(f"unknown integration event type '{probe.type}'")
    return model.model_validate_json(payload)


class _Probe(BaseModel):
    type: str
