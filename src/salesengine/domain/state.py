"""The state of a deal at some instant: a pure value folded from its events.

The same fold serves the aggregate (current state), the guard (state at a move's
effective time) and the auditor's replay (state as of T, known at K).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from salesengine.domain.key_info import TOPICS, KeyInfo
from salesengine.domain.values import FactValue, NextStep, Status

_EMPTY: MappingProxyType[str, FactValue] = MappingProxyType({})
_NO_KEY_INFO: MappingProxyType[str, KeyInfo] = MappingProxyType({})


@dataclass(frozen=True)
class DealState:
    key: str = ""
    policy: str = ""
    # The policy version (fingerprint) the deal's position was entered under: the
    # opening's, then each stage change's (docs/metrics.md, "Policy versions").
    policy_version: str = ""
    status: Status = Status.NEW
    stage: str = ""
    opened_at: datetime | None = None
    stage_entered_at: datetime | None = None
    facts: MappingProxyType[str, FactValue] = field(default_factory=lambda: _EMPTY)
    amount: Decimal | None = None
    currency: str | None = None
    expected_close: date | None = None
    account: str | None = None
    owner: str | None = None
    team: str | None = None
    region: str | None = None
    next_step: NextStep | None = None
    next_step_closed_at: datetime | None = None
    next_step_closed_due: datetime | None = None
    visits: int = 0
    effective_visits: int = 0
    last_visit_at: datetime | None = None
    outcome_reason: str | None = None
    competitor: str | None = None
    closed_at: datetime | None = None
    # The case review's key information by topic (domain/key_info.py).
    key_info: MappingProxyType[str, KeyInfo] = field(default_factory=lambda: _NO_KEY_INFO)

    def evolve(self, **changes: Any) -> DealState:
        # A shallow copy of the instance dict: several times cheaper than
        # dataclasses.replace, which re-runs __init__ over every field on each event.
        # Callers are the domain's own events, so field names are not re-checked here.
        new = object.__new__(DealState)
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        return new

    def with_fact(self, name: str, value: FactValue) -> DealState:
        facts = dict(self.facts)
        facts[name] = value
        return self.evolve(facts=MappingProxyType(facts))

    def without_fact(self, name: str) -> DealState:
        facts = dict(self.facts)
        facts.pop(name, None)
        return self.evolve(facts=MappingProxyType(facts))

    def with_key_info(self, info: KeyInfo) -> DealState:
        topics = dict(self.key_info)
        topics[info.topic] = info
        return self.evolve(key_info=MappingProxyType(topics))

    def without_key_info(self, topic: str) -> DealState:
        topics = dict(self.key_info)
        topics.pop(topic, None)
        return self.evolve(key_info=MappingProxyType(topics))

    @property
    def position(self) -> str:
        """Where the deal stands: its stage while open, else its outcome."""
        return self.stage if self.status is Status.OPEN else self.status.value

    def fact_holds(self, name: str) -> bool:
        value = self.facts.get(name)
        return value is not None and value is not False and value != ""

    def has_live_next_step(self, at: datetime) -> bool:
        return self.next_step is not None and not self.next_step.is_overdue(at)

    def as_dict(self) -> dict[str, Any]:
        next_step = self.next_step
        return {
            "deal": self.key,
            "policy": self.policy,
            "policy_version": self.policy_version,
            "status": self.status.value,
            "stage": self.stage,
            "opened_at": self.opened_at,
            "stage_entered_at": self.stage_entered_at,
            "facts": dict(self.facts),
            "amount": self.amount,
            "currency": self.currency,
            "expected_close": self.expected_close,
            "account": self.account,
            "owner": self.owner,
            "team": self.team,
            "region": self.region,
            "next_step": None
            if next_step is None
            else {
                "action": next_step.action,
                "due": next_step.due,
                "owner": next_step.owner,
                "set_at": next_step.set_at,
            },
            "visits": self.visits,
            "effective_visits": self.effective_visits,
            "last_visit_at": self.last_visit_at,
            "outcome_reason": self.outcome_reason,
            "competitor": self.competitor,
            "closed_at": self.closed_at,
            "key_info": {t: self.key_info[t].as_dict() for t in TOPICS if t in self.key_info},
        }
