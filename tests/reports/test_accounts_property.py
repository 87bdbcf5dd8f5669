"""Accounts as of T, known at K, equal a brute-force fold of the raw stored events, for
random histories of accounts and the deals naming them (backdated writes included),
on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from salesengine.application.account_commands import parse_account_command
from salesengine.application.accounts import Accounts
from salesengine.application.commands import parse_command
from salesengine.application.engine import SalesEngine
from salesengine.domain.account import account_id
from salesengine.domain.errors import SalesEngineError
from salesengine.domain.values import deal_id
from salesengine.reports.accounts import account_views
from tests.support.clock import T0
from tests.support.properties import examples, store_property
from tests.support.stores import store_with_read_models

PROPERTY = store_property(examples(100))
ACCOUNTS = ("ACME", "北方")
DEALS = ("D1", "D2", "D3")
CONTACTS = ("wang", "li", "zhao")
OWNERS = ("ann", "bob")
ROLES = ("initiator", "decision_maker", "influencer", "end_user", "policy_maker")

# One step: (days after T0 the change is effective, hours the recording clock moves
# first, the command's fields but its effective time).
Step = tuple[float, float, dict[str, Any]]


def account_commands() -> st.SearchStrategy[dict[str, Any]]:
    account = st.sampled_from(ACCOUNTS)
    contact = st.sampled_from(CONTACTS)
    boss = st.none() | contact
    amount = st.sampled_from(["400000", "500000", "999999", "1000000", "1000001", "2500000"])
    percent = st.sampled_from(["0", "9.99", "10", "30", "50", "50.01", "100"])
    return st.one_of(
        st.builds(
            lambda a, o: {"cmd": "account_open", "account": a, "owner": o},
            account,
            st.sampled_from(OWNERS),
        ),
        st.builds(
            lambda a, o: {"cmd": "account_change", "account": a, "owner": o},
            account,
            st.sampled_from(OWNERS),
        ),
        st.builds(
            lambda a, v: {"cmd": "buying_power", "account": a, "amount": v, "currency": "CNY"},
            account,
            amount,
        ),
        st.builds(
            lambda a, p: {"cmd": "share_of_wallet", "account": a, "percent": p}, account, percent
        ),
        st.builds(
            lambda a, g: {"cmd": "grade", "account": a, "grade": g},
            account,
            st.sampled_from([None, "A", "B", "C", "D"]),
        ),
        st.builds(
            lambda a, c, r, s, b: {
                "cmd": "contact_add",
                "account": a,
                "contact": c,
                "name": c.title(),
                "role": r,
                "support": s,
                "reports_to": b,
            },
            account,
            contact,
            st.sampled_from(ROLES),
            st.integers(-2, 2),
            boss,
        ),
        st.builds(
            lambda a, c, s, b: {
                "cmd": "contact_change",
                "account": a,
                "contact": c,
                "support": s,
                **({"reports_to": b} if b is not None else {"clear": ["reports_to"]}),
            },
            account,
            contact,
            st.integers(-2, 2),
            boss,
        ),
        st.builds(
            lambda a, c: {"cmd": "contact_left", "account": a, "contact": c}, account, contact
        ),
        st.builds(
            lambda a, k: {"cmd": "activity", "account": a, "kind": k},
            account,
            st.sampled_from(["call", "gift", "seminar"]),
        ),
    )


def deal_commands() -> st.SearchStrategy[dict[str, Any]]:
    deal = st.sampled_from(DEALS)
    close = st.none() | st.integers(0, 300).map(lambda d: (T0.date() + timedelta(d)).isoformat())
    return st.one_of(
        st.builds(
            lambda d, a, o, c: {
                "cmd": "open",
                "deal": d,
                "policy": "funnel-list",
                "account": a,
                "owner": o,
                **({"expected_close": c} if c else {}),
            },
            deal,
            st.sampled_from(ACCOUNTS),
            st.none() | st.sampled_from(OWNERS),
            close,
        ),
        st.builds(lambda d: {"cmd": "visit", "deal": d}, deal),
        st.builds(
            lambda d, c: {"cmd": "expected_close", "deal": d, "expected_close": c}, deal, close
        ),
        st.builds(lambda d: {"cmd": "abandon", "deal": d}, deal),
    )


def histories(with_deals: bool) -> st.SearchStrategy[list[Step]]:
    """Openings first (each account's left out at times when deals come along, for
    implicit accounts), at random early times, then random changes, backdated or not."""
    commands = account_commands()
    if with_deals:
        # A third each: account changes, deal changes, and visits (the accounts' contacts).
        visits = st.builds(lambda d: {"cmd": "visit", "deal": d}, st.sampled_from(DEALS))
        chosen = {"account": commands, "deal": deal_commands(), "visit": visits}
        commands = st.sampled_from(sorted(chosen)).flatmap(chosen.__getitem__)
    step = st.tuples(st.floats(0, 40), st.sampled_from([0.0, 1.0, 30.0]), commands)
    opening = [
        st.tuples(
            st.floats(0, 15),
            st.just(0.0),
            st.builds(
                lambda o, a=a: {"cmd": "account_open", "account": a, "owner": o},
                st.sampled_from(OWNERS),
            ),
        )
        for a in ACCOUNTS
    ]
    if with_deals:
        opening = [st.none() | o for o in opening]
        opening += [
            st.tuples(
                st.floats(0, 15),
                st.just(0.0),
                st.builds(
                    lambda a, o, c, d=d: {
                        "cmd": "open",
                        "deal": d,
                        "policy": "funnel-list",
                        "account": a,
                        "owner": o,
                        **({"expected_close": c} if c else {}),
                    },
                    st.sampled_from(ACCOUNTS),
                    st.none() | st.sampled_from(OWNERS),
                    st.none()
                    | st.integers(0, 300).map(lambda n: (T0.date() + timedelta(n)).isoformat()),
                ),
            )
            for d in DEALS
        ]
    return st.builds(
        lambda first, rest: [s for s in first if s is not None] + rest,
        st.tuples(*opening),
        st.lists(step, min_size=3, max_size=30),
    )


@dataclass
class Built:
    engine: SalesEngine
    first: datetime
    last: datetime


def apply(engine: SalesEngine, clock: Any, steps: list[Step]) -> Built:
    """Write the steps, the clock moving forwards; refused ones must store nothing."""
    accounts = Accounts(engine)
    first = clock.now
    for days, hours, fields in steps:
        clock.tick(hours=hours, microseconds=1)
        raw = {**fields, "at": (T0 + timedelta(days=days)).isoformat()}
        if "account" in raw and "deal" not in raw:
            command = parse_account_command(raw)
            before = _version(accounts, command.account)
            try:
                accounts.execute(command)
            except SalesEngineError:
                assert _version(accounts, command.account) == before
        else:
            with contextlib.suppress(SalesEngineError):  # a refused deal command
                engine.execute(parse_command(raw))
    return Built(engine, first, clock.now)


def _version(accounts: Accounts, key: str) -> int:
    found = accounts.find(key)
    return 0 if found is None else found.version


def draw_instants(data: st.DataObject, built: Built) -> tuple[datetime, datetime | None]:
    t = T0 + timedelta(days=data.draw(st.floats(-1, 45), label="T days"))
    span = (built.last - built.first).total_seconds()
    k = data.draw(
        st.none() | st.floats(-1, span + 1).map(lambda s: built.first + timedelta(seconds=s)),
        label="K",
    )
    return t, k


# ------------------------------------------------------------------ brute force


def raw_events(engine: SalesEngine, originator: Any) -> list[tuple[str, int, dict[str, Any]]]:
    """(event class name, version, state as stored), straight from the recorder."""
    found = []
    for stored in engine.recorder.select_events(originator):
        state = orjson.loads(stored.state)
        found.append((stored.topic.rsplit(".", 1)[-1], stored.originator_version, state))
    return found


def in_view(
    events: list[tuple[str, int, dict[str, Any]]], t: datetime, k: datetime | None
) -> list[tuple[str, int, dict[str, Any]]]:
    def at(e: tuple[str, int, dict[str, Any]]) -> datetime:
        return datetime.fromisoformat(e[2]["effective_at"])

    kept = [
        e
        for e in events
        if at(e) <= t and (k is None or datetime.fromisoformat(e[2]["timestamp"]) <= k)
    ]
    return sorted(kept, key=lambda e: (at(e), e[1]))


def expected_rad(bp: str | None, sow: str | None) -> str | None:
    if bp is None or sow is None:
        return None
    b, s = Decimal(bp), Decimal(sow)
    digit = "1" if b > 1_000_000 else "2" if b >= 500_000 else "3"
    letter = "R" if s > 50 else "D" if s >= 10 else "A"
    return letter + digit


def brute_account(events: list[tuple[str, int, dict[str, Any]]]) -> dict[str, Any] | None:
    """The account the events in view describe, by a fold written out here."""
    account: dict[str, Any] | None = None
    for name, _, e in events:
        if name == "Opened":
            account = {
                "owner": e["owner"],
                "bp": None,
                "sow": None,
                "grade": None,
                "contacts": {},
                "activities": [],
            }
            continue
        assert account is not None  # nothing is effective before the opening
        contacts = account["contacts"]
        if name == "Changed" and e["owner"] is not None:
            account["owner"] = e["owner"]
        elif name == "BuyingPowerSet":
            account["bp"] = e["amount"]
        elif name == "ShareOfWalletSet":
            account["sow"] = e["percent"]
        elif name == "GradeSet":
            account["grade"] = e["grade"]
        elif name == "ContactAdded":
            contacts[e["contact"]] = [e["role"], e["support"], e["reports_to"], False]
        elif name == "ContactChanged" and e["contact"] in contacts:
            c = contacts[e["contact"]]
            if e["support"] is not None:
                c[1] = e["support"]
            if e["reports_to"] is not None:
                c[2] = e["reports_to"]
            if "reports_to" in e["cleared"]:
                c[2] = None
        elif name == "ContactLeft" and e["contact"] in contacts:
            contacts[e["contact"]][3] = True
        elif name == "ActivityLogged":
            account["activities"].append(datetime.fromisoformat(e["effective_at"]))
    return account


def brute_grade(close: str | None, t: datetime) -> str:
    if close is None:
        return "D"
    days = (date.fromisoformat(close) - t.astimezone(UTC).date()).days
    return "A" if days <= 31 else "B" if days <= 92 else "C" if days <= 183 else "D"


def brute_deals(engine: SalesEngine, t: datetime, k: datetime | None) -> dict[str, list[Any]]:
    """Per account key: (open, grade, visit times) of each deal naming it, in view."""
    found: dict[str, list[Any]] = {}
    for key in DEALS:
        events = in_view(raw_events(engine, deal_id(key)), t, k)
        if not events or events[0][0] != "Opened":
            continue
        opened = events[0][2]
        if opened["account"] is None:
            continue
        close, is_open, visits = opened["expected_close"], True, []
        for name, _, e in events[1:]:
            if name == "ExpectedCloseChanged":
                close = e["expected_close"]
            elif name == "Abandoned":
                is_open = False
            elif name == "VisitLogged":
                visits.append(datetime.fromisoformat(e["effective_at"]))
        found.setdefault(opened["account"], []).append(
            (is_open, brute_grade(close, t) if is_open else None, visits)
        )
    return found


# ------------------------------------------------------------------ properties


@PROPERTY
@given(steps=histories(with_deals=False), data=st.data())
def test_an_account_as_of_t_known_at_k_equals_a_fold_of_its_raw_events(
    kind: str, tmp_path: Path, steps: list[Step], data: st.DataObject
) -> None:
    with store_with_read_models(kind, tmp_path) as (engine, clock, _):
        built = apply(engine, clock, steps)
        accounts = Accounts(engine)
        for _ in range(4):
            t, k = draw_instants(data, built)
            for key in ACCOUNTS:
                expected = brute_account(in_view(raw_events(engine, account_id(key)), t, k))
                if accounts.find(key) is None:
                    assert expected is None
                    continue
                state = accounts.state(key, t, k)
                if expected is None:
                    assert not state.exists, f"T={t} K={k}"
                    continue
                got = {
                    "owner": state.owner,
                    "bp": None if state.buying_power is None else str(state.buying_power),
                    "sow": None if state.share_of_wallet is None else str(state.share_of_wallet),
                    "grade": state.grade,
                    "contacts": {
                        c.key: [c.role, c.support, c.reports_to, c.left_at is not None]
                        for c in state.contacts.values()
                    },
                    "activities": [a.at for a in state.activities],
                }
                assert got == expected, f"{key} T={t} K={k}"
                assert state.rad == expected_rad(expected["bp"], expected["sow"])
                # The org chart in view never loops nor names an unknown contact.
                contacts = expected["contacts"]
                for name in contacts:
                    seen = {name}
                    boss = contacts[name][2]
                    while boss is not None:
                        assert boss in contacts and boss not in seen, f"{key} chart at T={t}"
                        seen.add(boss)
                        boss = contacts[boss][2]


@PROPERTY
@given(steps=histories(with_deals=True), data=st.data())
def test_account_reads_with_their_deals_equal_a_brute_force_replay(
    kind: str, tmp_path: Path, steps: list[Step], data: st.DataObject
) -> None:
    with store_with_read_models(kind, tmp_path) as (engine, clock, caught_up):
        built = apply(engine, clock, steps)
        sql = caught_up()
        accounts = Accounts(engine)
        for _ in range(3):
            t, k = draw_instants(data, built)
            deals = brute_deals(engine, t, k)
            expected: dict[str, tuple[Any, ...]] = {}
            for key in ACCOUNTS:
                account = brute_account(in_view(raw_events(engine, account_id(key)), t, k))
                if account is None and key not in deals:
                    continue
                own = deals.get(key, [])
                grades = [g for is_open, g, _ in own if is_open]
                if account is not None and account["grade"] is not None:
                    grade = account["grade"]
                else:
                    grade = min(grades) if grades else "D"
                touches = [v for _, _, visits in own for v in visits]
                touches += [] if account is None else account["activities"]
                last = max(touches, default=None)
                cadence = {"A": 7, "B": 14, "C": 30, "D": 90}[grade]
                within = last is not None and (t - last).total_seconds() / 86400 <= cadence
                expected[key] = (account is not None, grade, last, within, len(own))
            with sql.connect() as conn:
                views = account_views(conn, accounts, as_of=t, known_at=k)
            got = {
                v.account: (v.recorded, v.grade, v.last_contact, v.in_cadence, len(v.deals))
                for v in views
            }
            assert got == expected, f"T={t} K={k}"
