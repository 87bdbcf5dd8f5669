"""Kafka: one topic per subject, keyed by deal (so one partition holds a deal's events
in order); the broker is made with ``acks=all`` and an idempotent producer."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from salesengine.integration.contract import IntegrationEvent
from salesengine.integration.transports.base import BrokerTransport, Outgoing, message_headers


class KafkaTransport(BrokerTransport):
    kind = "kafka"
    broker: KafkaBroker

    def _publisher(self, channel: str, model: type[IntegrationEvent]) -> None:
        self.broker.publisher(
            channel,
            title=channel,
            description=model.__doc__,
            schema=model,
        )

    async def _send(self, message: Outgoing) -> None:
        await self.broker.publish(
            message.body,
            message.subject,
            key=message.deal_id.encode(),
            headers=message_headers(message),
            correlation_id=message.id,
        )
