"""A deal's events typed as the domain declares them. The event-sourcing library hands
them out (``collect_events``) and its mapper reads them back typed as its own protocols;
these check, as they give them, that each is one of the deal's events."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from salesengine.domain.deal import Deal, DealEvent


def deal_event(event: object) -> DealEvent:
    assert isinstance(event, Deal.Event | Deal.Opened), type(event)
    return event


def deal_events(events: Iterable[object]) -> list[DealEvent]:
    return [deal_event(e) for e in events]


def collected(deal: Deal) -> list[DealEvent]:
    """The deal's pending events, collected (so no longer pending)."""
    return deal_events(deal.collect_events())


def opened_event(timeline: Sequence[DealEvent]) -> Deal.Opened:
    """The deal's first event: its opening."""
    first = timeline[0]
    assert isinstance(first, Deal.Opened), type(first)
    return first
