"""What the relay publishes for a stored event, for every reader that owes the same: the
translator over an engine's store, and a message as it goes out (its body and what its
headers carry). The relay and the service's change feed both use these, so a feed
client reads byte for byte what a broker's subscriber receives."""

from __future__ import annotations

from uuid import UUID

from salesengine.application.engine import SalesEngine
from salesengine.domain.errors import UnknownPolicy
from salesengine.domain.policy import FunnelPolicy
from salesengine.integration.contract import IntegrationEvent
from salesengine.integration.translate import Translator, UnknownVersion
from salesengine.integration.transports.base import Outgoing
from salesengine.store.notification_log import LogReader


def engine_translator(
    engine: SalesEngine,
    log: LogReader,
    store_id: UUID,
    *,
    on_unknown: UnknownVersion | None = None,
) -> Translator:
    """The translator of the engine's events: a deal met mid-history is read back from
    ``log``; a stage's probability is the one of the policy version that decided it."""

    def policy(name: str) -> FunnelPolicy | None:
        try:
            return engine.catalog.get(name)
        except UnknownPolicy:
            return None

    return Translator(
        log.history, policy, store_id, versions=engine.policy_of_version, on_unknown=on_unknown
    )


def outgoing(message: IntegrationEvent, deal_id: str, store: str, subject: str) -> Outgoing:
    """The message as every transport sends it: ``deal_id`` is the stored deal id (32 hex
    digits), ``store`` the store's id, ``subject`` the message's (``message.subject``,
    which the relay makes once per type and policy)."""
    return Outgoing(
        str(message.id),
        message.type,
        subject,
        deal_id,
        message.position,
        message.model_dump_json().encode(),
        store,
    )
