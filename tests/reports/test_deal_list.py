"""The deal list equals a brute-force list of the deals' states at T known at K.

Every page walk reaches every deal exactly once in key order, whatever the page size;
each filter keeps what a filter written out over ``Deal.state_at`` keeps; deals added
between two pages are reached without repeating any; bad parameters are refused by name.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salesengine.domain.deal import Deal
from salesengine.domain.values import Status
from salesengine.reports.deal_list import (
    MAX_LIMIT,
    DealFilter,
    DealListError,
    deal_list,
    decode_cursor,
    encode_cursor,
)
from tests.support.clock import T0
from tests.support.commands import FIVE_LEVEL_OPENING, cmd
from tests.support.histories import (
    OWNERS,
    POLICIES,
    RECORDING_START,
    TEAMS,
    Step,
    built,
    instants,
)
from tests.support.properties import examples, store_property
from tests.support.scopes import integration_scopes, keys_in_scope, manager_scopes, rep_scopes
from tests.support.stores import fresh_db, store_with_read_models
from tests.support.timelines import any_histories

PROPERTY = store_property(examples(150) // 2 or 1)
ACCOUNTS = ("Acme", "ACME Labs", "Globex", "100%_sure")
LATEST = RECORDING_START + timedelta(days=3650)  # after every effective instant


@st.composite
def with_accounts(draw: st.DrawFn) -> list[Step]:
    """The shared histories, their deals opened for an account (or none)."""
    steps = draw(any_histories())
    found = []
    for step in steps:
        command = step.command
        if command["cmd"] == "open":
            account = draw(st.sampled_from([*ACCOUNTS, None]))
            if account is not None:
                command = {**command, "account": account}
        found.append(Step(step.tick_minutes, command))
    return found


def expected_rows(deals: list[Deal], at: datetime | None, known_at: datetime | None) -> list[Any]:
    """Each deal opened by T as known at K, as the list has it, in key order."""
    rows = []
    for deal in deals:
        s = deal.state_at(at or LATEST, known_at)
        if s.status is Status.NEW:
            continue
        rows.append(
            {
                "key": s.key,
                "policy": s.policy,
                "stage": s.position,
                "status": s.status.value,
                "owner": s.owner,
                "team": s.team,
                "region": s.region,
                "account": s.account,
                "amount": s.amount,
                "currency": s.currency or POLICIES[s.policy].currency,
                "expected_close": s.expected_close,
                "stage_entered_at": s.stage_entered_at if s.status is Status.OPEN else s.closed_at,
            }
        )
    return sorted(rows, key=lambda r: r["key"])


def kept(row: dict[str, Any], where: DealFilter) -> bool:
    for name in ("owner", "team", "stage", "status", "account", "policy"):
        wanted = getattr(where, name)
        if wanted is not None and row[name] != wanted:
            return False
    if where.q is not None:
        q = where.q.lower()
        return q in row["key"].lower() or q in (row["account"] or "").lower()
    return True


filters = st.builds(
    DealFilter,
    owner=st.none() | st.sampled_from(OWNERS),
    team=st.none() | st.sampled_from(TEAMS),
    stage=st.none() | st.sampled_from(["identified", "contacted", "won", "lost", "s1"]),
    status=st.none() | st.sampled_from(["open", "won", "lost", "abandoned"]),
    account=st.none() | st.sampled_from(ACCOUNTS),
    policy=st.none() | st.sampled_from(sorted(POLICIES)),
    q=st.none() | st.sampled_from(["acme", "DEAL-1", "e", "lab", "%", "_", "0%_"]),
)


def walk(conn: Any, limit: int, **kwargs: Any) -> list[dict[str, Any]]:
    """Every page in turn: each but the last full, the last without a cursor."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(10_000):
        page = deal_list(conn, POLICIES, limit=limit, cursor=cursor, **kwargs)
        assert len(page.items) <= limit
        items.extend(i.as_dict() for i in page.items)
        if page.next_cursor is None:
            return items
        assert len(page.items) == limit
        cursor = page.next_cursor
    raise AssertionError("the pages never end")


@PROPERTY
@given(steps=with_accounts(), data=st.data())
def test_the_pages_reach_every_deal_once_and_the_filters_agree_with_brute_force(
    kind: str, tmp_path: Path, steps: list[Step], data: st.DataObject
) -> None:
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b, b.sql.connect() as conn:
        deals = b.deals()
        for _ in range(3):
            instant, known_at = instants(data, b)
            at = None if data.draw(st.booleans()) else instant  # None: each deal's latest
            everything = expected_rows(deals, at, known_at)
            limit = data.draw(st.integers(1, 4))
            got = walk(conn, limit, as_of=at, known_at=known_at)
            assert got == everything
            assert len({r["key"] for r in got}) == len(got)

            where = data.draw(filters)
            got = walk(conn, data.draw(st.integers(1, 4)), as_of=at, known_at=known_at, where=where)
            assert got == [r for r in everything if kept(r, where)], where

            scope = data.draw(st.one_of(rep_scopes, manager_scopes, integration_scopes))
            reached = keys_in_scope(deals, scope)
            got = walk(conn, MAX_LIMIT, as_of=at, known_at=known_at, where=where, scope=scope)
            assert got == [r for r in everything if kept(r, where) and r["key"] in reached]


def test_deals_added_between_pages_are_reached_and_none_twice(kind: str, tmp_path: Path) -> None:
    with store_with_read_models(kind, tmp_path) as (engine, clock, caught_up):

        def open_deal(key: str) -> None:
            clock.tick(minutes=1)
            engine.execute(
                cmd(
                    cmd="open",
                    deal=key,
                    policy="five-level",
                    at=T0,
                    owner="anna",
                    facts=FIVE_LEVEL_OPENING,
                )
            )

        for key in ("b", "d", "f", "h"):
            open_deal(key)
        seen: list[str] = []
        with caught_up().connect() as conn:
            page = deal_list(conn, POLICIES, limit=2)
        seen += [i.key for i in page.items]
        assert seen == ["b", "d"]
        for key in ("a", "c", "e", "i"):  # before the cursor, and after it
            open_deal(key)
        cursor = page.next_cursor
        while cursor is not None:
            with caught_up().connect() as conn:
                page = deal_list(conn, POLICIES, limit=2, cursor=cursor)
            seen += [i.key for i in page.items]
            cursor = page.next_cursor
        assert seen == ["b", "d", "e", "f", "h", "i"]
        with caught_up().connect() as conn:
            assert [r["key"] for r in walk(conn, 3)] == list("abcdefhi")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": MAX_LIMIT + 1}, "limit"),
        ({"limit": True}, "limit"),
        ({"where": DealFilter(status="closed")}, "status"),
        ({"where": DealFilter(q="  ")}, "q"),
        ({"cursor": "!!"}, "cursor"),
        ({"cursor": "YQ=="}, "cursor"),  # padded: not as the list writes it
        ({"cursor": ""}, "cursor"),
    ],
)
def test_bad_parameters_are_refused_by_name(
    tmp_path: Path, kwargs: dict[str, Any], field: str
) -> None:
    with (
        store_with_read_models("sqlite", tmp_path) as (_, _, caught_up),
        caught_up().connect() as conn,
        pytest.raises(DealListError) as refused,
    ):
        deal_list(conn, POLICIES, **kwargs)
    assert refused.value.field == field


@given(st.text(min_size=1))
def test_a_cursor_stands_for_the_key_it_was_made_from(key: str) -> None:
    try:
        key.encode()
    except UnicodeEncodeError:  # a lone surrogate is no deal key
        return
    assert decode_cursor(encode_cursor(key)) == key
