"""What a store keeps of personal data, read with direct SQL: the keys table and the
subjects every stored event's envelopes name (``store.personal_keys``)."""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.persistence import StoredEvent

from salesengine.application.engine import SalesEngine
from salesengine.domain.deal import Deal
from salesengine.store.personal_keys import ENVELOPE, KEYS_TABLE
from tests.support.audit import StoreTables
from tests.support.clock import T0
from tests.support.commands import FIVE_LEVEL_OPENING, cmd


def open_deal(engine: SalesEngine, key: str) -> None:
    engine.execute(
        cmd(
            cmd="open",
            deal=key,
            policy="five-level",
            amount="1000",
            at=T0,
            facts=FIVE_LEVEL_OPENING,
        )
    )


def sealed_not_written(engine: SalesEngine, key: str, **visit: object) -> list[StoredEvent]:
    """A visit decided and sealed by ``engine`` (as its save does), not yet written."""
    deal, _ = engine.decide(cmd(cmd="visit", deal=key, **visit), engine.find(key), None)
    return [engine.mapper.to_stored_event(e) for e in deal.collect_events()]


def key_rows(tables: StoreTables) -> list[tuple[str, str, str]]:
    """(subject, scope, label) of every stored key."""
    return sorted(
        (str(s), str(sc), str(lb))
        for s, sc, lb in tables.rows(f"SELECT subject, scope, label FROM {KEYS_TABLE}")
    )


def subjects_of_label(tables: StoreTables, label: str) -> list[str]:
    return [s for s, _scope, lb in key_rows(tables) if lb == label]


def _envelopes(value: Any, found: list[list[str]]) -> None:
    if isinstance(value, dict):
        if ENVELOPE in value:
            found.append(list(value[ENVELOPE]))
            return
        for v in value.values():
            _envelopes(v, found)
    elif isinstance(value, list):
        for v in value:
            _envelopes(v, found)


def sealed_subjects(tables: StoreTables) -> list[list[str]]:
    """The subject ids of every envelope of every stored event, in log order."""
    found: list[list[str]] = []
    for (state,) in tables.rows(f"SELECT state FROM {tables.events} ORDER BY {tables.position}"):
        _envelopes(orjson.loads(bytes(state)), found)
    return found


def unstored_seals(tables: StoreTables) -> set[str]:
    """Subject ids an event was sealed under whose key the store does not hold (none
    may be, but for the subjects erased)."""
    stored = {s for s, _, _ in key_rows(tables)}
    return {s for ids in sealed_subjects(tables) for s in ids} - stored


def visits(engine: SalesEngine, key: str) -> list[tuple[list[str], str | None]]:
    """(attendees, note) of the deal's visits, in version order, as the engine reads them."""
    deal = engine.load(key)
    return [
        (list(e.attendees), e.note)
        for e in sorted(deal.timeline, key=lambda e: e.originator_version)
        if isinstance(e, Deal.VisitLogged)
    ]
