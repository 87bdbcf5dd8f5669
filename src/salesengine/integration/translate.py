"""Domain events in, integration events out (docs/integration.md, "The contract").

Ids are the store's own (``published_deal_id``, ``event_id``), the same on every relay
and replay. A stage change repeats the deal's key, policy and amount as of the change,
which its domain event does not hold: each deal's few such facts are kept in a bounded
cache built as the log is read in order, and a deal met mid-history (a relay started
from a position, or evicted from the cache) is read back from the store up to the event
at hand. A probability is the stage's under the policy version that decided the event,
so a replay after a policy edit publishes what was in force.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from hashlib import sha1
from typing import Any, Literal
from uuid import UUID, uuid5

from salesengine.domain.deal import Deal, DealEvent
from salesengine.domain.personal import DEAL_FIELDS
from salesengine.domain.policy import FunnelPolicy
from salesengine.integration.contract import (
    DealAbandonedV1,
    DealAmountChangedV1,
    DealExpectedCloseChangedV1,
    DealFactRecordedV1,
    DealFactRetractedV1,
    DealKeyInfoRecordedV1,
    DealKeyInfoRetractedV1,
    DealLostV1,
    DealNextStepCompletedV1,
    DealNextStepSetV1,
    DealOpenedV1,
    DealOwnerChangedV1,
    DealStageChangedV1,
    DealVisitLoggedV1,
    DealWonV1,
    IntegrationEvent,
)

# Every domain event of a deal is published.
PUBLISHED = (
    "Opened",
    "StageAdvanced",
    "StageRegressed",
    "Reopened",
    "VisitLogged",
    "NextStepSet",
    "NextStepCompleted",
    "AmountChanged",
    "OwnerChanged",
    "ExpectedCloseChanged",
    "FactRecorded",
    "FactRetracted",
    "KeyInfoRecorded",
    "KeyInfoRetracted",
    "Won",
    "Lost",
    "Abandoned",
)
TOPICS = PUBLISHED  # what the translation reads of the log

# A deal's events below the given version, in version order.
HistoryLoader = Callable[[UUID, int], list[DealEvent]]
Direction = Literal["advanced", "regressed", "reopened"]
# The policy file as it is now, by name.
PolicyLookup = Callable[[str], FunnelPolicy | None]
# A policy version, by name and fingerprint; None if it is not known.
VersionLookup = Callable[[str, str], FunnelPolicy | None]
# Told of a version not known, and of the policy file's version used instead (if any).
UnknownVersion = Callable[[str, str, FunnelPolicy | None], None]


# The events whose message is the common fields and some of the event's own, by name.
COPIED: dict[type[DealEvent], tuple[type[IntegrationEvent], tuple[str, ...]]] = {
    Deal.VisitLogged: (DealVisitLoggedV1, ("kind", "effective", "attendees", "note")),
    Deal.NextStepSet: (DealNextStepSetV1, ("action", "due", "owner")),
    Deal.NextStepCompleted: (DealNextStepCompletedV1, ("note",)),
    Deal.AmountChanged: (DealAmountChangedV1, ("amount", "currency")),
    Deal.OwnerChanged: (DealOwnerChangedV1, ("owner", "team", "region")),
    Deal.ExpectedCloseChanged: (DealExpectedCloseChangedV1, ("expected_close",)),
    Deal.FactRecorded: (DealFactRecordedV1, ("name", "value")),
    Deal.FactRetracted: (DealFactRetractedV1, ("name", "reason")),
    Deal.KeyInfoRecorded: (DealKeyInfoRecordedV1, ("topic", "details", "evidence")),
    Deal.KeyInfoRetracted: (DealKeyInfoRetractedV1, ("topic", "reason")),
}


def _personal_types() -> frozenset[str]:
    """The message types that carry personal data (domain/personal.py)."""
    return frozenset(
        str(message.model_fields["type"].default)
        for event, (message, _) in COPIED.items()
        if event.__name__ in DEAL_FIELDS
    )


PERSONAL_TYPES = _personal_types()


def published_deal_id(store_id: UUID, key: str) -> UUID:
    """A deal's id on the broker: ``uuid5(store_id, key)``, unique to its store."""
    return uuid5(store_id, key)


def event_id(deal_id: UUID, version: int) -> UUID:
    """The same id for the same stored event, whichever relay or replay publishes it:
    ``uuid5(deal_id, str(version))``, of the deal's published id."""
    return UUID(event_id_text(deal_id, version))


def event_id_text(deal_id: UUID, version: int) -> str:
    """``str(event_id(deal_id, version))``, made directly: a relay makes one per
    message, and the UUID objects of ``uuid5`` cost more than the hashing."""
    digest = bytearray(sha1(deal_id.bytes + b"%d" % version).digest()[:16])
    digest[6] = digest[6] & 0x0F | 0x50  # version 5
    digest[8] = digest[8] & 0x3F | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(slots=True)
class DealFacts:
    """What a deal's integration events repeat from its earlier events."""

    key: str
    policy: str
    deal_id: UUID  # as published: see published_deal_id
    next_version: int  # the version of the deal's next event not yet noted
    policy_version: str  # the version the deal's current position was entered under
    # (effective_at, version, amount, currency), in timeline order
    amounts: list[tuple[datetime, int, Decimal | None, str | None]] = field(default_factory=list)

    def note(self, event: DealEvent) -> None:
        self.policy_version = self.decided_under(event)
        if isinstance(event, Deal.Opened):
            self._amount(event.effective_at, 1, event.amount, event.currency)
        elif isinstance(event, Deal.AmountChanged):
            self._amount(event.effective_at, event.originator_version, event.amount, event.currency)
        self.next_version = event.originator_version + 1

    def decided_under(self, event: DealEvent) -> str:
        """The policy version an opening or stage change was decided under; one stored
        without it (before moves recorded it), and any other event, counts under the
        version of the deal's position before it, as the read models count it."""
        version: str | None = getattr(event, "policy_version", None)
        return version or self.policy_version

    def amount_at(self, event: DealEvent) -> tuple[Decimal | None, str | None]:
        """The amount in force at the event's place in the deal's timeline."""
        place = (event.effective_at, event.originator_version)
        i = bisect.bisect_right(self.amounts, place, key=lambda a: (a[0], a[1]))
        if i == 0:
            return None, None
        _, _, amount, currency = self.amounts[i - 1]
        return amount, currency

    def _amount(
        self, at: datetime, version: int, amount: Decimal | None, currency: str | None
    ) -> None:
        bisect.insort(self.amounts, (at, version, amount, currency), key=lambda a: (a[0], a[1]))


class Translator:
    """Turns a deal's stored events, met in log order, into integration events."""

    def __init__(
        self,
        history: HistoryLoader,
        policy: PolicyLookup,
        store_id: UUID,
        *,
        versions: VersionLookup,
        on_unknown: UnknownVersion | None = None,
        capacity: int = 100_000,
    ) -> None:
        self.history = history
        self.policy = policy
        self.versions = versions
        self.on_unknown = on_unknown
        self.store_id = store_id
        self.capacity = capacity
        self._deals: OrderedDict[UUID, DealFacts] = OrderedDict()
        # Each version met, as found (or the policy file's in its place): versions never
        # change, and one is known from the transaction that stored its first event on.
        self._versions: dict[tuple[str, str], FunnelPolicy | None] = {}

    def clear(self) -> None:
        self._deals.clear()

    def translate(self, position: int, event: DealEvent) -> IntegrationEvent | None:
        """The event's integration event, or None for an event of no published type."""
        facts = self._facts(event)
        message = self._message(position, event, facts)
        facts.note(event)
        return message

    def _facts(self, event: DealEvent) -> DealFacts:
        deal_id = event.originator_id
        version = event.originator_version
        facts = self._deals.get(deal_id)
        # A gap in versions is a deal's event of a kind not read here, which changes
        # none of its facts; a version already noted means a replay: read it afresh.
        if facts is not None and facts.next_version <= version:
            self._deals.move_to_end(deal_id)
            return facts
        if isinstance(event, Deal.Opened):
            facts = self._new_facts(event)
        else:
            # Met mid-history: fold what came before it from the store.
            earlier = self.history(deal_id, version)
            if not earlier or not isinstance(earlier[0], Deal.Opened):
                raise LookupError(f"deal {deal_id}: no opening event before version {version}")
            facts = self._new_facts(earlier[0])
            for e in earlier:
                facts.note(e)
        self._deals[deal_id] = facts
        if len(self._deals) > self.capacity:
            self._deals.popitem(last=False)
        return facts

    def _new_facts(self, opened: Deal.Opened) -> DealFacts:
        deal_id = published_deal_id(self.store_id, opened.deal)
        return DealFacts(opened.deal, opened.policy, deal_id, 1, opened.policy_version)

    def _version(self, policy: str, fingerprint: str) -> FunnelPolicy | None:
        """The version, or the policy file's current one when it is not known."""
        key = (policy, fingerprint)
        if key not in self._versions:
            found = self.versions(policy, fingerprint)
            if found is None:
                found = self.policy(policy)
                if self.on_unknown is not None:
                    self.on_unknown(policy, fingerprint, found)
            self._versions[key] = found
        return self._versions[key]

    def _probability(self, policy: str, fingerprint: str, stage: str) -> int | None:
        """The stage's probability under the version; under the policy file's current
        version for a stage the version lacks (only a stand-in can), else None."""
        for found in (self._version(policy, fingerprint), self.policy(policy)):
            if found is None:
                continue
            try:
                return found.probability(stage)
            except KeyError:
                continue
        return None

    def _message(
        self, position: int, event: DealEvent, facts: DealFacts
    ) -> IntegrationEvent | None:
        common: dict[str, Any] = {
            "id": event_id_text(facts.deal_id, event.originator_version),
            "store_id": self.store_id,
            "position": position,
            "deal_id": facts.deal_id,
            "deal": facts.key,
            "version": event.originator_version,
            "policy": facts.policy,
            "effective_at": event.effective_at,
            "recorded_at": event.timestamp,
            "actor": event.actor,
        }
        if isinstance(event, Deal.Opened):
            return DealOpenedV1(
                **common,
                stage=event.stage,
                probability=self._probability(event.policy, event.policy_version, event.stage),
                policy_version=event.policy_version,
                amount=event.amount,
                currency=event.currency,
                account=event.account,
                owner=event.owner,
                team=event.team,
                region=event.region,
                expected_close=event.expected_close,
            )
        copied = COPIED.get(type(event))
        if copied is not None:
            model, names = copied
            return model(**common, **{name: getattr(event, name) for name in names})
        amount, currency = facts.amount_at(event)
        version = facts.decided_under(event)
        # What every stage change and close repeats: the amount then, the deciding version.
        shared: dict[str, Any] = {"amount": amount, "currency": currency, "policy_version": version}
        if isinstance(event, Deal.StageAdvanced | Deal.StageRegressed | Deal.Reopened):
            direction: Direction
            if isinstance(event, Deal.Reopened):
                direction, stage_from, reason = "reopened", event.from_outcome, event.reason
            elif isinstance(event, Deal.StageRegressed):
                direction, stage_from, reason = "regressed", event.from_stage, event.reason
            else:
                direction, stage_from, reason = "advanced", event.from_stage, None
            return DealStageChangedV1(
                **common,
                **shared,
                stage_from=stage_from,
                stage_to=event.to_stage,
                direction=direction,
                probability=self._probability(facts.policy, version, event.to_stage),
                reason=reason,
            )
        if isinstance(event, Deal.Won):
            return DealWonV1(**common, **shared, stage_from=event.from_stage)
        if isinstance(event, Deal.Lost):
            return DealLostV1(
                **common,
                **shared,
                stage_from=event.from_stage,
                reason=event.reason,
                competitor=event.competitor,
            )
        if isinstance(event, Deal.Abandoned):
            return DealAbandonedV1(
                **common, **shared, stage_from=event.from_stage, reason=event.reason
            )
        return None
