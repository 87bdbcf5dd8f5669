"""Which accounts a principal reaches, chosen in SQL before any account is folded
(docs/access.md, "Accounts").

An account is in a scope by its **current** owner and team, as a deal is: the owner and
team its events give after all of them, backdated changes folded in their place on the
timeline. Those two come from its ``Opened`` and ``Changed`` events alone, which one
query selects by topic from the event store's own table (on the read models' database,
as the change feed reads it); the contacts, activities and facts of an account are not
read here. A scope restricted by policy reaches the accounts named by at least one deal
it reaches (an account has no policy of its own); an implicit account (only named by
deals) is reached through its deals the same way, in every scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from sqlalchemy import Connection, select

from salesengine.access.principal import Scope
from salesengine.access.scope_sql import scoped_deal_ids
from salesengine.domain.account import Account
from salesengine.projections import deal_attributes
from salesengine.store.log_sql import events_table
from salesengine.store.notification_log import EventStore

OWNERSHIP_TOPICS = (get_topic(Account.Opened), get_topic(Account.Changed))
_NAMING = deal_attributes.table.alias("naming_deals")


def reachable_accounts(conn: Connection, store: EventStore, scope: Scope) -> frozenset[str] | None:
    """The keys of the accounts ``scope`` reaches; None for a scope over everything."""
    if scope.everything:
        return None
    named = _named_by_deals(conn, scope)
    if scope.policies:
        return frozenset(named)
    owners = current_owners(conn, store)
    own = {key for key, (owner, team) in owners.items() if scope.admits(owner, team, None)}
    implicit = {key for key in named if key not in owners}
    return frozenset(own | implicit)


def _named_by_deals(conn: Connection, scope: Scope) -> set[str]:
    """The accounts named (currently) by the deals in scope."""
    a = _NAMING.c
    query = (
        select(a.account)
        .distinct()
        .where(
            a.recorded_to.is_(None),
            a.valid_to.is_(None),
            a.account.is_not(None),
            a.deal_id.in_(scoped_deal_ids(scope)),
        )
    )
    return {str(r[0]) for r in conn.execute(query)}


def current_owners(conn: Connection, store: EventStore) -> dict[str, tuple[str | None, str | None]]:
    """Every recorded account's current owner and team, by key."""
    events, _ = events_table(store)
    e = events.c
    query = select(e.originator_id, e.originator_version, e.topic, e.state).where(
        e.topic.in_(OWNERSHIP_TOPICS)
    )
    streams: dict[UUID, list[Any]] = {}
    for stored_id, version, topic, state in conn.execute(query):
        originator_id = stored_id if isinstance(stored_id, UUID) else UUID(str(stored_id))
        event = store.mapper.to_domain_event(
            StoredEvent(originator_id, int(version), str(topic), bytes(state))
        )
        streams.setdefault(originator_id, []).append(event)
    return dict(_owner_and_team(stream) for stream in streams.values())


def _owner_and_team(stream: Iterable[Any]) -> tuple[str, tuple[str | None, str | None]]:
    """The key, owner and team after the stream's ownership events in timeline order."""
    key, owner, team = "", None, None
    ordered: list[tuple[datetime, int, Any]] = sorted(
        ((e.effective_at, e.originator_version, e) for e in stream), key=lambda x: (x[0], x[1])
    )
    for _, _, event in ordered:
        if isinstance(event, Account.Opened):
            key, owner, team = event.account, event.owner, event.team
        else:
            owner = event.owner if event.owner is not None else owner
            team = event.team if event.team is not None else team
    return key, (owner, team)
