"""One faststream broker per URL scheme, each publishing with the broker's own ack.

- ``nats://``: JetStream stream ``SALESENGINE``, the event id as ``Nats-Msg-Id``
  (``nats.py``); ``amqp://``: topic exchange ``salesengine`` (``rabbitmq.py``);
  ``redis://``: a stream per subject (``redis.py``); ``kafka://host:port[,host:port]``:
  a topic per subject, keyed by deal (``kafka.py``); ``memory://``: no broker, the
  handlers of ``integration.subscriptions`` in process.
- A transport's ``publish`` returns once the broker has acknowledged the message, and
  raises ``BrokerUnavailable`` otherwise (``base.py``); NATS also offers a pipelined
  ``send``, Redis a ``publish_page``.

This package's names are the ones callers use; docs/integration.md, "The relay", says
what each broker gets.
"""

from salesengine.integration.transports.base import (
    ACK_TIMEOUT,
    CONNECT_TIMEOUT,
    JSON,
    BrokerTransport,
    BrokerUnavailable,
    Outgoing,
    Transport,
)
from salesengine.integration.transports.kafka import KafkaTransport
from salesengine.integration.transports.nats import STREAM_NAME, NatsTransport, jetstream
from salesengine.integration.transports.rabbitmq import EXCHANGE, RabbitTransport
from salesengine.integration.transports.redis import RedisTransport, redis_fields
from salesengine.integration.transports.registry import (
    TRANSPORTS,
    broker_transport,
    make_broker,
)
from salesengine.integration.transports.urls import (
    SCHEMES,
    BrokerURL,
    BrokerURLError,
    parse_broker_url,
)

__all__ = [
    "ACK_TIMEOUT",
    "CONNECT_TIMEOUT",
    "EXCHANGE",
    "JSON",
    "SCHEMES",
    "STREAM_NAME",
    "TRANSPORTS",
    "BrokerTransport",
    "BrokerURL",
    "BrokerURLError",
    "BrokerUnavailable",
    "KafkaTransport",
    "NatsTransport",
    "Outgoing",
    "RabbitTransport",
    "RedisTransport",
    "Transport",
    "broker_transport",
    "jetstream",
    "make_broker",
    "parse_broker_url",
    "redis_fields",
]
