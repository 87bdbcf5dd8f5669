"""The read models' events: light records decoded straight from the stored JSON.

A rebuild reads every event the read models use, and building a domain event for each
(typed fields, datetimes, Decimals, about 14 µs) was its largest single cost.
A record holds only what the read models read, in their own units: the two instants as
integer microseconds, amounts as integer ten-thousandths (``base.to_units``), dates as
the ISO text they are stored as. Personal fields are never read, so no key is needed.

``stored_fold`` folds records; a property test proves it equal, row for row, to the
domain's fold (``DealState.evolve``, ``stage_fold``) over the same events decoded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any, cast
from uuid import UUID

import orjson
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from salesengine.domain.deal import Deal, DealEvent
from salesengine.projections.base import AMOUNT_SCALE, Envelope, Record, to_us
from salesengine.store.codec import OrjsonMapper
from salesengine.store.notification_log import EventStore, store_head, stored_history, stored_rows


def instant_us(text: str) -> int:
    return to_us(datetime.fromisoformat(text))


def units(amount: Any) -> int | None:
    """``base.to_units`` of an amount as stored (Decimals are stored as their text)."""
    if amount is None:
        return None
    if amount.__class__ is str:
        amount = Decimal(amount)
    return int(amount * AMOUNT_SCALE)


# (kind, topic, stored originator id, version, stored state): a stored event's record.
_Load = Callable[[str, str, Any, int, bytes], Record]

_OUTCOMES = {"Won": "won", "Lost": "lost", "Abandoned": "abandoned"}


def record_of(kind: str, version: int, state: dict[str, Any]) -> Record:
    """The record of a stored event's state (as ``orjson.loads`` gives it)."""
    effective = instant_us(state["effective_at"])
    recorded = instant_us(state["timestamp"])
    get = state.get
    stage: str | None = None
    data: tuple[Any, ...] = ()
    if kind == "Opened":
        stage = state["stage"]
        data = (
            state["deal"],
            state["policy"],
            get("account"),
            get("owner"),
            get("team"),
            get("region"),
            units(get("amount")),
            get("currency"),
            get("expected_close"),
        )
    elif kind in ("StageAdvanced", "StageRegressed"):
        stage = state["to_stage"]
    elif kind == "Reopened":
        stage = state["to_stage"]
        action, due = get("next_action"), get("next_due")
        # A reopening brings a next step only with both its action and its due instant.
        data = (None, None) if action is None or due is None else (action, instant_us(due))
    elif kind in _OUTCOMES:
        stage = _OUTCOMES[kind]
    elif kind == "AmountChanged":
        data = (units(state["amount"]), state["currency"])
    elif kind == "ExpectedCloseChanged":
        data = (get("expected_close"),)
    elif kind == "OwnerChanged":
        data = (state["owner"], get("team"), get("region"))
    elif kind == "NextStepSet":
        data = (state["action"], instant_us(state["due"]))
    elif kind == "VisitLogged":
        data = (state["actor"], state["kind"], state["effective"])
    # Stage changes stored before they kept a policy version have none (as upcast).
    return Record(
        kind, version, effective, recorded, stage, get("reason"), get("policy_version"), data
    )


def kind_of(topic: str) -> str:
    """The event's class name from its topic (``salesengine.domain.deal:Deal.Opened``)."""
    return topic.rpartition(".")[2]


class StoredLog:
    """Pages of the notification log as records, and one deal's records, read without
    building domain events (but through the engine's mapper when it is not the plain
    orjson one this decoding knows)."""

    def __init__(self, engine: EventStore, kinds: Iterable[str]) -> None:
        self.engine = engine
        self.topics = sorted({get_topic(getattr(Deal, name)) for name in kinds})
        self._kinds = {topic: kind_of(topic) for topic in self.topics}

    def head(self) -> int:
        """The position of the latest event in the log (0 for an empty store)."""
        return store_head(self.engine)

    def read(
        self, start: int, stop: int, keep: Callable[[str], bool] | None = None
    ) -> list[Envelope]:
        """The events after position ``start`` up to ``stop``, in log order; only those of
        the deals ``keep`` keeps (by id), if given, the others skipped undecoded."""
        rows = stored_rows(self.engine, self.topics, start, stop)
        load = self._loader()
        kinds = self._kinds
        envelopes = []
        for position, deal_id, version, topic, state in rows:
            if keep is not None and not keep(deal_id):
                continue
            envelopes.append(
                Envelope(position, load(kinds[topic], topic, deal_id, version, state), deal_id)
            )
        return envelopes

    def history(self, deal_id: str, version: int) -> list[Record]:
        """One deal's records of these topics below the given version, in version order."""
        stored = stored_history(self.engine, UUID(deal_id), version)
        load = self._loader()
        kinds = self._kinds
        return [
            load(kinds[s.topic], s.topic, s.originator_id, s.originator_version, s.state)
            for s in stored
            if s.topic in kinds
        ]

    def _loader(self) -> _Load:
        mapper = self.engine.mapper
        if isinstance(mapper, OrjsonMapper) and mapper.cipher is None and mapper.compressor is None:
            return _plain
        if isinstance(mapper, OrjsonMapper):

            def opened(kind: str, _: str, __: Any, version: int, state: bytes) -> Record:
                data = bytes(state)
                if mapper.cipher is not None:
                    data = mapper.cipher.decrypt(data)
                if mapper.compressor is not None:
                    data = mapper.compressor.decompress(data)
                return record_of(kind, version, orjson.loads(data))

            return opened

        def through_mapper(
            kind: str,  # noqa: ARG001 - the event's own class says it
            topic: str,
            stored_id: Any,
            version: int,
            state: bytes,
        ) -> Record:
            originator_id = stored_id if isinstance(stored_id, UUID) else UUID(str(stored_id))
            event = mapper.to_domain_event(StoredEvent(originator_id, version, topic, state))
            return record_of_event(cast(DealEvent, event))

        return through_mapper


def _plain(kind: str, _: str, __: Any, version: int, state: bytes) -> Record:
    return record_of(kind, version, orjson.loads(state))


_ENCODER = OrjsonMapper()


def record_of_event(event: DealEvent) -> Record:
    """A domain event's record, through its stored form (without sealing: a record
    holds no personal field)."""
    stored = _ENCODER.to_stored_event(event)
    return record_of(type(event).__name__, event.originator_version, orjson.loads(stored.state))
