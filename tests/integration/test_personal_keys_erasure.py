"""Erasing a data subject on either store: its values read as erased on every read path
(the aggregate, the log reader's fast path), others' stay readable, the stored log never
held the plain values, and the audit chain holds before and after (an erasure changes
nothing it covers)."""

from __future__ import annotations

from salesengine.application.account_commands import parse_account_command
from salesengine.application.accounts import Accounts
from salesengine.application.commands import command_digest
from salesengine.application.engine import SalesEngine
from salesengine.application.erasure import erase
from salesengine.domain.account import Account, account_id
from salesengine.domain.deal import Deal
from salesengine.domain.personal import ERASED
from salesengine.store.notification_log import LogReader
from tests.support.audit import StoreTables, both_verdicts, export_text
from tests.support.clock import T0
from tests.support.commands import FIVE_LEVEL_OPENING, cmd
from tests.support.personal_keys import unstored_seals, visits
from tests.support.stores import StoreFactory


def account(engine: SalesEngine, **command: object) -> None:
    Accounts(engine).execute(parse_account_command({"account": "ACME", **command}))


def write(engine: SalesEngine) -> None:
    account(engine, cmd="account_open", owner="ann")
    account(
        engine, cmd="contact_add", contact="cfo", name="Wu Fang", title="CFO", role="decision_maker"
    )
    account(engine, cmd="activity", kind="dinner", attendees=["cfo", "Lin"], note="a toast")
    engine.execute(
        cmd(cmd="open", deal="D-1", policy="five-level", at=T0, facts=FIVE_LEVEL_OPENING)
    )
    engine.execute(cmd(cmd="visit", deal="D-1", attendees=["Ivy", "Jon"], note="Ivy and Jon"))
    engine.execute(cmd(cmd="visit", deal="D-1", attendees=["Jon"], note="Jon alone"))


def assert_chain_holds(url: str) -> None:
    in_store, standalone = both_verdicts(url)
    assert in_store.report.findings == [] and in_store.report.holds
    assert standalone.findings == [] and standalone.holds


def log_visits(engine: SalesEngine) -> list[tuple[list[str], str | None]]:
    """The visits as the log reader reads them (read models, the relay)."""
    reader = LogReader(engine, ["VisitLogged"])
    return [
        (list(e.attendees), e.note)
        for _, _, e in reader.read(0, reader.head())
        if isinstance(e, Deal.VisitLogged)
    ]


def test_erasing_a_person_erases_their_values_and_the_notes_they_attended_only(
    store_url: str, make_engine: StoreFactory
) -> None:
    engine = make_engine()
    write(engine)
    before = export_text(store_url)
    assert_chain_holds(store_url)
    erase(engine, "person:Ivy")
    expected = [([ERASED, "Jon"], ERASED), (["Jon"], "Jon alone")]
    assert visits(engine, "D-1") == expected
    assert log_visits(engine) == expected
    assert visits(make_engine(), "D-1") == expected
    # The chain covers what is stored, which the erasure did not change.
    assert_chain_holds(store_url)
    after = export_text(store_url)
    kept = before.splitlines()
    # Every entry exported before is exported again as it was (all but the header, with
    # its time, and the trailer); the erasure's follows them.
    assert after.splitlines()[1 : len(kept) - 1] == kept[1:-1]
    tables = StoreTables(store_url)
    for plain in ("Ivy", "Jon", "Wu Fang", "CFO", "Lin", "toast", "alone"):
        assert plain not in after
        assert all(
            plain.encode() not in bytes(state)
            for (state,) in tables.rows(f"SELECT state FROM {tables.events}")
        )
    assert len(unstored_seals(tables)) == 1  # Ivy's


def test_erasing_a_contact_erases_its_name_title_and_the_activities_it_attended(
    store_url: str, make_engine: StoreFactory
) -> None:
    engine = make_engine()
    write(engine)
    erase(engine, "contact:ACME/cfo")
    found = Accounts(make_engine()).find("ACME")
    assert found is not None
    contact = found.state.contacts["cfo"]
    assert (contact.name, contact.title, contact.role) == (ERASED, ERASED, "decision_maker")
    (activity,) = found.state.activities
    assert (list(activity.attendees), activity.note) == ([ERASED, "Lin"], ERASED)
    assert visits(engine, "D-1") == [(["Ivy", "Jon"], "Ivy and Jon"), (["Jon"], "Jon alone")]
    assert_chain_holds(store_url)


def test_an_erased_contact_name_cannot_be_confirmed_from_what_is_stored(
    store_url: str, make_engine: StoreFactory
) -> None:
    engine = make_engine()
    account(engine, cmd="account_open", owner="ann")
    account(
        engine,
        cmd="contact_add",
        id="c-1",
        contact="cfo",
        name="Wu Fang",
        role="decision_maker",
    )
    erase(engine, "contact:ACME/cfo")
    reader = make_engine()
    (added,) = [
        e for e in reader.events.get(account_id("ACME")) if isinstance(e, Account.ContactAdded)
    ]
    assert added.name == ERASED
    # Everything of the command but the erased name is stored in plain beside the digest
    # (its time given or not): whoever holds the store tries candidate names against it.
    candidates = ["Li Lei", "Han Meimei", "Wu Fang", "Zhang Wei"]
    confirmed = [
        name
        for name in candidates
        if command_digest(
            parse_account_command(
                {
                    "cmd": "contact_add",
                    "id": added.command_id,
                    "account": "ACME",
                    "contact": added.contact,
                    "name": name,
                    "role": added.role,
                }
            )
        )
        == added.command_digest
    ]
    assert confirmed == []
