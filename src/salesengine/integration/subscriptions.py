"""The subscriber's side: handlers of integration events, in process or on a broker.

A handler is an ``async`` function of one integration event model. The same handlers
run in process (the relay's ``memory://`` transport calls them directly) or on a real
broker (``bind`` registers each as a faststream subscriber); either way a handler sees
each event once, however often it was delivered, because each subscription drops the
ids it has already handled.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from faststream.nats import DeliverPolicy, NatsBroker, PullSub
from faststream.rabbit import RabbitBroker, RabbitQueue
from faststream.redis import RedisBroker, StreamSub

from salesengine.integration.contract import (
    MODELS,
    IntegrationEvent,
    parse,
    routing_key,
    subject,
    subject_filter,
)
from salesengine.integration.faststream_seam import AnyBroker
from salesengine.integration.transports.base import Outgoing, Transport
from salesengine.integration.transports.nats import jetstream
from salesengine.integration.transports.rabbitmq import EXCHANGE

Handler = Callable[[Any], Awaitable[None]]


class SeenIds:
    """The most recent ids handled, to drop redeliveries (a bounded set, oldest out)."""

    def __init__(self, capacity: int = 1_000_000) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[Any, None] = OrderedDict()

    def first_time(self, event_id: Any) -> bool:
        if event_id in self._ids:
            return False
        self._ids[event_id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return True


@dataclass(slots=True)
class Subscription:
    handler: Handler
    event_type: str | None  # None: every type
    policy: str | None  # None: every policy
    seen: SeenIds = field(default_factory=SeenIds)
    duplicates: int = 0

    def matches(self, event: IntegrationEvent) -> bool:
        return (self.event_type is None or event.type == self.event_type) and (
            self.policy is None or event.policy == self.policy
        )

    async def deliver(self, event: IntegrationEvent) -> None:
        if not self.seen.first_time(event.id):
            self.duplicates += 1
            return
        await self.handler(event)

    @property
    def name(self) -> str:
        return getattr(self.handler, "__name__", "handler")


class Subscriptions:
    """A set of handlers, each for one event type (or all) of one policy (or all)."""

    def __init__(self) -> None:
        self.subscriptions: list[Subscription] = []

    def on(
        self, event_type: str | None = None, *, policy: str | None = None
    ) -> Callable[[Handler], Handler]:
        if event_type is not None and event_type not in MODELS:
            raise ValueError(
                f"unknown integration event type '{event_type}' (one of {', '.join(MODELS)})"
            )

        def register(handler: Handler) -> Handler:
            self.subscriptions.append(Subscription(handler, event_type, policy))
            return handler

        return register

    async def dispatch(self, payload: bytes) -> None:
        """Hand one encoded event to every matching handler, in process."""
        event = parse(payload)
        for subscription in self.subscriptions:
            if subscription.matches(event):
                await subscription.deliver(event)

    def bind(
        self,
        broker: AnyBroker,
        *,
        group: str,
        from_start: bool = True,
        durable: bool = True,
    ) -> None:
        """Register each handler on a broker, as consumer ``group`` (a JetStream durable
        consumer, a RabbitMQ queue, a Redis consumer group), reading what the broker
        still holds (``from_start``) or only what arrives from now on. RabbitMQ keeps
        nothing for a queue not yet bound: replay history with ``relay --from-position``.
        A queue that is not ``durable`` goes when its consumer does."""
        for index, sub in enumerate(self.subscriptions):
            consume = _consumer(sub)
            name = f"{group}-{index}-{sub.name}"
            if isinstance(broker, NatsBroker):
                policy = DeliverPolicy.ALL if from_start else DeliverPolicy.NEW
                if durable:
                    # A durable consumer is pulled, so several instances can share it.
                    broker.subscriber(
                        subject_filter(sub.event_type, sub.policy),
                        stream=jetstream(),
                        durable=name,
                        pull_sub=PullSub(batch_size=100),
                        deliver_policy=policy,
                        title=name,
                    )(consume)
                else:
                    broker.subscriber(
                        subject_filter(sub.event_type, sub.policy),
                        stream=jetstream(),
                        deliver_policy=policy,
                        title=name,
                    )(consume)
            elif isinstance(broker, RabbitBroker):
                queue = RabbitQueue(
                    name,
                    durable=durable,
                    auto_delete=not durable,
                    routing_key=routing_key(subject_filter(sub.event_type, sub.policy)),
                )
                broker.subscriber(queue, EXCHANGE, title=name)(consume)
            elif isinstance(broker, RedisBroker):
                if sub.event_type is None or sub.policy is None:
                    raise ValueError(
                        f"handler {sub.name}: Redis streams have no wildcards, so a Redis "
                        "subscription names both its event type and its policy"
                    )
                stream = StreamSub(
                    subject(sub.event_type, sub.policy),
                    group=name,
                    consumer=name,
                    last_id="0" if from_start else "$",
                )
                broker.subscriber(stream=stream, title=name)(consume)
            else:
                raise ValueError(f"no subscriber binding for {type(broker).__name__}")


def _consumer(sub: Subscription) -> Callable[[dict[str, Any]], Awaitable[None]]:
    async def consume(body: dict[str, Any]) -> None:
        model = MODELS.get(str(body.get("type")))
        if model is None:
            raise ValueError(f"unknown integration event type '{body.get('type')}'")
        event = model.model_validate(body)
        if sub.matches(event):
            await sub.deliver(event)

    consume.__name__ = sub.name
    return consume


class InProcessTransport(Transport):
    """The embedded default: no broker, the relay hands each message to handlers here.

    Messages are still encoded and parsed back, so a handler sees exactly what it would
    from a broker; the relay's position moves once every handler has returned.
    """

    kind = "memory"
    in_flight = 1  # handlers run one at a time, in log order

    def __init__(self, subscriptions: Subscriptions) -> None:
        self.subscriptions = subscriptions

    async def start(self) -> None:
        return None

    async def publish(self, message: Outgoing) -> None:
        await self.subscriptions.dispatch(message.body)

    async def stop(self) -> None:
        return None
