"""Key information of a deal (案情追踪, the case review): what a rep has gathered about
the customer's schedule, budget, requirement, decision, competition and key evaluation
items, each topic with its evidence and who recorded it.

Each topic is recorded whole: a later record of the same topic replaces the earlier one
(the statement and its evidence go together), and a retraction removes the topic. The
details are kept as plain JSON values (dates as ``YYYY-MM-DD``, amounts as decimal
text, lists of names): the command language types and validates them
(``application/commands.py``); the domain checks that a record names a known topic and
only that topic's fields.

Which topics a deal should hold by the stage it is at (docs/review.md, "What is
missing") is a default of this module, by the stage's win probability, not a rule the
guard enforces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from types import MappingProxyType
from typing import Any, Literal

Topic = Literal["schedule", "budget", "requirement", "decision", "competition", "evaluation"]
TOPICS: tuple[Topic, ...] = (
    "schedule",
    "budget",
    "requirement",
    "decision",
    "competition",
    "evaluation",
)

# What each kind of field holds: a date (YYYY-MM-DD), a decimal amount as text, an ISO
# 4217 code, free text, or a list of names or texts.
FieldKind = Literal["day", "amount", "currency", "text", "list"]

FIELDS: Mapping[str, Mapping[str, FieldKind]] = MappingProxyType(
    {
        "schedule": MappingProxyType(
            {
                "selection_start": "day",
                "selection_end": "day",
                "vendor_decision": "day",
                "signing": "day",
                "implementation_start": "day",
                "go_live": "day",
                "derived_from": "text",
            }
        ),
        "budget": MappingProxyType({"amount": "amount", "currency": "currency"}),
        "requirement": MappingProxyType(
            {
                "motivation": "text",
                "problems": "text",
                "scope": "text",
                "modules": "list",
                "services": "list",
            }
        ),
        "decision": MappingProxyType(
            {
                "process": "text",
                "criteria": "list",
                "contacts": "list",
                "outside_roles": "text",
            }
        ),
        "competition": MappingProxyType({"competitors": "list", "leader": "text", "why": "text"}),
        "evaluation": MappingProxyType({"items": "list"}),
    }
)

# The schedule's dates in the order a purchase runs through them: a record whose dates
# run backwards along this order is refused.
SCHEDULE_ORDER: tuple[str, ...] = (
    "selection_start",
    "selection_end",
    "vendor_decision",
    "signing",
    "implementation_start",
    "go_live",
)

# The default of "what is missing" (docs/review.md): the topics a deal should hold from
# a stage of at least this win probability on. An assumption: the seeds name budget and
# schedule at the Funnel List's 50% class and the decision-chain path at its 25%; the
# requirement is known from the first stage; competitors and the customer's key
# evaluation items are what a deal at 50% and 75% respectively must know to be won.
EXPECTED_FROM: Mapping[str, int] = MappingProxyType(
    {
        "requirement": 0,
        "decision": 25,
        "budget": 50,
        "schedule": 50,
        "competition": 50,
        "evaluation": 75,
    }
)

DetailValue = str | list[str]


def expected_topics(probability: int) -> tuple[Topic, ...]:
    """The topics a deal at a stage of this win probability should hold, in TOPICS order."""
    return tuple(t for t in TOPICS if probability >= EXPECTED_FROM[t])


def details_problem(topic: str, details: Mapping[str, Any]) -> str | None:
    """Why these details cannot be the topic's record (None when they can)."""
    fields = FIELDS.get(topic)
    if fields is None:
        return f"unknown key information topic '{topic}' (one of {', '.join(TOPICS)})"
    unknown = sorted(set(details) - set(fields))
    if unknown:
        return f"{topic} has no field {', '.join(unknown)} (its fields: {', '.join(fields)})"
    if not any(_given(v) for v in details.values()):
        return f"a record of {topic} needs at least one of: {', '.join(fields)}"
    if topic == "schedule":
        return schedule_problem(details)
    return None


def schedule_problem(details: Mapping[str, Any]) -> str | None:
    """Dates of a schedule that run backwards along SCHEDULE_ORDER, if any do."""
    dated = [(name, details[name]) for name in SCHEDULE_ORDER if details.get(name)]
    for (first, a), (then, b) in pairwise(dated):
        if str(b) < str(a):  # ISO dates compare as text
            return f"the schedule's {then} ({b}) is before its {first} ({a})"
    return None


def _given(value: Any) -> bool:
    return value not in (None, "", [])


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """One topic as it stands: its details, its evidence, who recorded it and when."""

    topic: str
    details: Mapping[str, DetailValue]
    evidence: str | None
    actor: str
    effective_at: datetime
    recorded_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "details": {k: list(v) if isinstance(v, list) else v for k, v in self.details.items()},
            "evidence": self.evidence,
            "actor": self.actor,
            "effective_at": self.effective_at,
            "recorded_at": self.recorded_at,
        }
