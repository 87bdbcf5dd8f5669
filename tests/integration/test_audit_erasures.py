"""``audit verify`` checks that every erasure the log records took effect: the chain
holds across an erasure (it covers only sealed values), both verifiers agree, and a key
of an erased subject found stored again is a finding that fails the verification."""

from __future__ import annotations

from typing import Any

from salesengine.application.account_commands import parse_account_command
from salesengine.application.accounts import Accounts
from salesengine.application.erasure import erase
from tests.support.audit import StoreTables, both_verdicts, write_history
from tests.support.clock import T0
from tests.support.stores import StoreFactory


def account(**fields: Any) -> Any:
    return parse_account_command(fields)


def test_an_erasure_keeps_the_chain_and_a_key_left_behind_is_named(
    make_engine: StoreFactory, store_url: str
) -> None:
    engine = make_engine()
    write_history(engine)
    accounts = Accounts(engine)
    accounts.execute(
        account(cmd="account_open", account="ERASE-CO", owner="ann", at=T0.isoformat())
    )
    accounts.execute(account(cmd="contact_add", account="ERASE-CO", contact="gm", name="Jane Doe",
                             role="decision_maker", support=1))  # fmt: skip
    accounts.execute(account(cmd="activity", account="ERASE-CO", kind="call", attendees=["gm"],
                             note="Jane asked for the price list"))  # fmt: skip
    before, _ = both_verdicts(store_url)
    assert before.report.holds and before.erasures == 0

    erased = erase(engine, "contact:ERASE-CO/gm", actor="dpo")
    in_store, standalone = both_verdicts(store_url)
    assert in_store.report.holds, [f.line() for f in in_store.report.findings]
    assert standalone.holds
    assert in_store.erasures == 1
    assert in_store.report.size == before.report.size + 1, "the erasure is chained too"
    assert (in_store.report.root, in_store.report.size) == (standalone.root, standalone.size)

    tables = StoreTables(store_url)
    tables.run(
        "INSERT INTO salesengine_personal_keys VALUES (?, ?, ?, ?)",
        (erased.subjects[0], "restored", "from an old backup", b"\x00" * 32),
    )
    again, _ = both_verdicts(store_url)
    assert not again.report.holds
    [finding] = again.report.findings
    assert finding.kind == "erasure"
    assert finding.aggregate == erased.erasure
    assert erased.subjects[0] in finding.details[0]


def test_erasing_a_person_leaves_a_contact_whose_key_is_that_name(
    make_engine: StoreFactory,
) -> None:
    from salesengine.application.commands import parse_command

    engine = make_engine()
    accounts = Accounts(engine)
    for key in ("KEEP-CO", "MET-CO"):
        accounts.execute(account(cmd="account_open", account=key, owner="ann", at=T0.isoformat()))
    accounts.execute(account(cmd="contact_add", account="KEEP-CO", contact="gm", name="Jane Doe",
                             role="decision_maker", support=1))  # fmt: skip
    # "gm" written as a name where no contact is keyed so: that is the person erased.
    accounts.execute(account(cmd="activity", account="MET-CO", kind="call", attendees=["gm"]))
    engine.execute(parse_command({"cmd": "open", "deal": "GM-1", "policy": "funnel-list",
                                  "at": T0.isoformat()}))  # fmt: skip
    engine.execute(parse_command({"cmd": "visit", "deal": "GM-1", "attendees": ["gm"]}))

    erased = erase(engine, "person:gm", actor="dpo")
    assert len(erased.subjects) == 2, "the deal visit's and the other account's, not the contact"
    assert accounts.state("KEEP-CO").contacts["gm"].name == "Jane Doe"
    assert accounts.state("MET-CO").activities[-1].attendees == ("[erased]",)
    visit = engine.deal_events("GM-1").timeline[-1]
    assert visit.attendees == ["[erased]"]  # type: ignore[union-attr]
