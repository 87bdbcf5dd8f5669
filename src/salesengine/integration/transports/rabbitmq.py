"""RabbitMQ: the durable topic exchange ``salesengine``, routing key
``deal.<policy>.<event>``, persistent messages with publisher confirms; the event id is
the AMQP ``message_id``."""

from __future__ import annotations

from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange

from salesengine.integration.contract import PREFIX, IntegrationEvent, routing_key
from salesengine.integration.transports.base import (
    ACK_TIMEOUT,
    JSON,
    BrokerTransport,
    BrokerUnavailable,
    Outgoing,
    failure_reason,
    message_headers,
)

EXCHANGE = RabbitExchange(PREFIX, type=ExchangeType.TOPIC, durable=True)


class RabbitTransport(BrokerTransport):
    kind = "rabbit"
    broker: RabbitBroker

    def _publisher(self, channel: str, model: type[IntegrationEvent]) -> None:
        self.broker.publisher(
            exchange=EXCHANGE,
            routing_key=routing_key(channel),
            title=routing_key(channel),
            description=model.__doc__,
            schema=model,
            persist=True,
        )

    async def start(self) -> None:
        await super().start()
        try:
            await self.broker.declare_exchange(EXCHANGE)
        except Exception as e:  # aio-pika raises its own
            raise BrokerUnavailable(failure_reason(e)) from e

    async def _send(self, message: Outgoing) -> None:
        await self.broker.publish(
            message.body,
            exchange=EXCHANGE,
            routing_key=message.routing_key,
            message_id=message.id,
            correlation_id=message.id,
            headers=dict(message_headers(message)),
            content_type=JSON,
            persist=True,
            mandatory=False,  # a subject nobody has bound yet is not a failure
            timeout=ACK_TIMEOUT,
        )
