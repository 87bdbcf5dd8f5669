"""For any history with personal data on its deals' visits, next steps and key
information and on accounts' contacts and activities, erasing any of its subjects
leaves the funnel, conversion, cycle-time and forecast figures as they were (read
models caught up, and rebuilt from the log), both chain verdicts holding, and the
subject's values read as erased. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from sqlalchemy import Engine

from salesengine.application.account_commands import parse_account_command
from salesengine.application.accounts import Accounts
from salesengine.application.erasure import erase
from salesengine.application.json_form import jsonable
from salesengine.domain.account import account_id
from salesengine.domain.values import deal_id
from salesengine.reports.conversion import conversion
from salesengine.reports.cycle_time import cycle_time
from salesengine.reports.forecast import forecast
from salesengine.reports.funnel import funnel
from tests.support.audit import both_verdicts
from tests.support.clock import T0
from tests.support.histories import POLICIES, Built, Step, built, histories
from tests.support.personal_data import stored_keys
from tests.support.properties import examples, store_property
from tests.support.stores import fresh_db

PROPERTY = store_property(examples(8))
PEOPLE = ("Ada Lovelace-Byron", "Grace Hopper-Murray", "王芳芳", "Alan Turing-Sherborne")
CONTACT_NAMES = ("Mary Somerville-Fairfax", "Emmy Noether-Erlangen", "李四光")
ACCOUNTS = ("ACC-1", "ACC-2")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def texts(prefix: str) -> st.SearchStrategy[str]:
    return st.integers(0, 10**6).map(lambda n: f"{prefix} {n:07d} said so")


@st.composite
def personal_histories(draw: st.DrawFn) -> tuple[list[Step], list[dict[str, Any]]]:
    """A history of deals with personal values on its visits, completed next steps and
    key information, and account commands with contacts, activities and notes."""
    steps = []
    for step in draw(histories(max_deals=3)):
        c = dict(step.command)
        if c["cmd"] == "open":
            c["account"] = draw(st.sampled_from(ACCOUNTS))
        elif c["cmd"] == "visit":
            c["attendees"] = draw(st.lists(st.sampled_from(PEOPLE), max_size=3, unique=True))
            c["note"] = draw(st.none() | texts("visit-note"))
        elif c["cmd"] == "done":
            c["note"] = draw(st.none() | texts("done-note"))
        steps.append(Step(step.tick_minutes, c))
        if c["cmd"] == "open" and draw(st.booleans()):
            info = {"topic": "requirement", "problems": draw(texts("ki-problems"))}
            key_info = {"cmd": "key_info", "deal": c["deal"], "info": info, "at": c["at"]}
            if draw(st.booleans()):
                key_info["evidence"] = draw(texts("ki-evidence"))
            steps.append(Step(1, key_info))
    accounts: list[dict[str, Any]] = []
    for account in ACCOUNTS:
        accounts.append({"cmd": "account_open", "account": account, "owner": "anna"})
        contacts = draw(st.lists(st.sampled_from(("c1", "c2", "c3")), max_size=3, unique=True))
        for contact in contacts:
            accounts.append(
                {"cmd": "contact_add", "account": account, "contact": contact,
                 "name": draw(st.sampled_from(CONTACT_NAMES)), "title": draw(texts("title")),
                 "role": "influencer"}
            )  # fmt: skip
        if draw(st.booleans()):
            accounts.append(
                {"cmd": "buying_power", "account": account, "amount": "700000",
                 "currency": "EUR", "note": draw(texts("bp-note"))}
            )  # fmt: skip
        for _ in range(draw(st.integers(0, 2))):
            attendees = st.sampled_from([*contacts, *PEOPLE])
            accounts.append(
                {"cmd": "activity", "account": account, "kind": "call",
                 "attendees": draw(st.lists(attendees, max_size=3, unique=True)),
                 "note": draw(st.none() | texts("act-note"))}
            )  # fmt: skip
    return steps, accounts


def figures(sql: Engine, instants: list[datetime]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    with sql.connect() as conn:
        for t in instants:
            for by in (None, "owner"):
                found[f"funnel {t} {by}"] = funnel(conn, POLICIES, as_of=t, by=by)
                found[f"forecast {t} {by}"] = forecast(conn, POLICIES, as_of=t, by=by)
        start, end = T0, T0 + timedelta(days=400)
        found["conversion"] = conversion(conn, POLICIES, start=start, end=end)
        found["cycle_time"] = cycle_time(conn, POLICIES, start=start, end=end)
    return found


def subjects(b: Built) -> list[str]:
    """Every subject of the store with a key: the names to erase them by."""
    rows = b.engine.recorder.personal_keys()  # type: ignore[attr-defined]
    pairs = {(scope, label) for _, scope, label, _ in rows}
    found = [f"person:{label}" for _, label in pairs if label in PEOPLE]
    found += [f"deal:{k}" for k in b.engine.deal_keys() if (deal_id(k).hex, "") in pairs]
    for account in ACCOUNTS:
        scope = account_id(account).hex
        if (scope, "") in pairs:
            found.append(f"account:{account}")
        state = Accounts(b.engine).state(account)
        found += [f"contact:{account}/{c}" for c in state.contacts if (scope, c) in pairs]
    return sorted(set(found))


def everything_read(b: Built) -> str:
    """Every deal's history and every account's events, as their readers show them."""
    deals = [jsonable(b.engine.history(k)) for k in b.engine.deal_keys()]
    accounts = [vars(e) for a in ACCOUNTS for e in Accounts(b.engine).events(a).timeline]
    return json.dumps([deals, accounts], ensure_ascii=False, default=str)


@PROPERTY
@given(history=personal_histories(), data=st.data())
def test_erasing_any_subject_changes_no_figure_and_no_chain_verdict(
    kind: str, tmp_path: Path, history: tuple[list[Step], list[dict[str, Any]]], data: st.DataObject
) -> None:
    steps, account_commands = history
    with fresh_db(kind, tmp_path) as db, built(db, steps) as b:
        accounts = Accounts(b.engine)
        for raw in account_commands:
            accounts.execute(parse_account_command(raw))
        b.runner.catch_up()
        candidates = subjects(b)
        if not candidates:
            event("nothing to erase")
            return
        subject = data.draw(st.sampled_from(candidates))
        event(f"erasing a {subject.partition(':')[0]}")
        effective = b.effective_times()
        instants = [*data.draw(st.lists(st.sampled_from(effective), max_size=3)), effective[-1]]
        before = figures(b.sql, instants)
        keys = stored_keys(b.engine)

        erased = erase(b.engine, subject, actor="dpo")

        b.runner.catch_up()
        assert figures(b.sql, instants) == before
        b.runner.rebuild()
        assert figures(b.sql, instants) == before
        in_store, standalone = both_verdicts(db)
        assert in_store.report.holds and standalone.holds
        assert in_store.report.root == standalone.root
        assert set(stored_keys(b.engine)) == set(keys) - set(erased.subjects)
        shown = everything_read(b)
        if subject.startswith("person:"):  # the name is written nowhere but as itself
            assert subject.removeprefix("person:") not in shown
        assert "[erased]" in shown
