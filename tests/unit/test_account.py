"""The Account aggregate's rules, given/when/then: RAD cells at their boundaries, the
org chart's guards, contacts, times, idempotency and bad input."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from salesengine.application.account_commands import parse_account_command
from salesengine.application.accounts import Accounts
from salesengine.application.engine import SalesEngine
from salesengine.domain.account import (
    AccountAlreadyExists,
    ContactExists,
    OrgChartCycle,
    UnknownAccount,
    UnknownContact,
)
from salesengine.domain.account_state import bp_class, rad_cell, sow_letter
from salesengine.domain.errors import CommandIdReused, InvalidTime
from salesengine.importing.common.validation import describe_validation
from tests.support.clock import T0, Clock


def at(days: float) -> str:
    return (T0 + timedelta(days=days)).isoformat()


def day(days: float) -> datetime:
    return T0 + timedelta(days=days)


@pytest.fixture
def accounts(memory_engine: SalesEngine) -> Accounts:
    return Accounts(memory_engine)


def run(accounts: Accounts, **fields: Any) -> Any:
    return accounts.execute(parse_account_command(fields))


@pytest.fixture
def acme(accounts: Accounts) -> Accounts:
    run(accounts, cmd="account_open", account="ACME", owner="ann", at=at(0))
    return accounts


# ------------------------------------------------------------------ RAD


@pytest.mark.parametrize(
    ("bp", "expected"),
    [("1000000.01", 1), ("1000000", 2), ("500000", 2), ("499999.99", 3), ("0", 3)],
)
def test_buying_power_classes_put_one_million_and_half_a_million_in_class_2(
    bp: str, expected: int
) -> None:
    assert bp_class(Decimal(bp)) == expected


@pytest.mark.parametrize(
    ("sow", "expected"), [("50.01", "R"), ("50", "D"), ("10", "D"), ("9.99", "A"), ("0", "A")]
)
def test_share_of_wallet_letters_put_fifty_and_ten_percent_in_d(sow: str, expected: str) -> None:
    assert sow_letter(Decimal(sow)) == expected


def test_the_rad_cell_is_unknown_until_both_facts_are_there() -> None:
    assert rad_cell(None, Decimal(60)) is None
    assert rad_cell(Decimal(2_000_000), None) is None
    assert rad_cell(Decimal(2_000_000), Decimal(60)) == "R1"
    assert rad_cell(Decimal(100), Decimal(5)) == "A3"


def test_bp_and_sow_are_dated_facts_read_as_of_t(acme: Accounts) -> None:
    run(acme, cmd="buying_power", account="ACME", amount="400000", currency="CNY", at=at(1))
    run(acme, cmd="share_of_wallet", account="ACME", percent="60", at=at(2))
    run(acme, cmd="buying_power", account="ACME", amount="1500000", currency="CNY", at=at(5))
    assert acme.state("ACME", day(1.5)).rad is None
    assert acme.state("ACME", day(3)).rad == "R3"
    assert acme.state("ACME", day(6)).rad == "R1"


def test_a_backdated_fact_is_seen_as_of_t_only_when_known(
    acme: Accounts, memory_engine: SalesEngine
) -> None:
    clock = memory_engine.clock
    assert isinstance(clock, Clock)
    run(acme, cmd="share_of_wallet", account="ACME", percent="5", at=at(10))
    before = clock.tick(hours=1)
    clock.tick(hours=1)
    run(acme, cmd="share_of_wallet", account="ACME", percent="20", at=at(3))
    assert acme.state("ACME", day(4)).share_of_wallet == Decimal(20)
    assert acme.state("ACME", day(4), before).share_of_wallet is None
    assert acme.state("ACME", day(11)).share_of_wallet == Decimal(5)


# ------------------------------------------------------------------ contacts


def add(accounts: Accounts, contact: str, days: float, **fields: Any) -> None:
    run(
        accounts,
        cmd="contact_add",
        account="ACME",
        contact=contact,
        name=contact.title(),
        role=fields.pop("role", "influencer"),
        at=at(days),
        **fields,
    )


def test_contacts_form_an_org_chart_read_as_of_t(acme: Accounts) -> None:
    add(acme, "wang", 1, role="decision_maker", support=2)
    add(acme, "li", 2, reports_to="wang", support=-1)
    run(acme, cmd="contact_change", account="ACME", contact="li", role="end_user", at=at(4))
    run(acme, cmd="contact_left", account="ACME", contact="wang", reason="retired", at=at(6))
    at3 = acme.state("ACME", day(3)).contacts
    assert (at3["li"].role, at3["li"].reports_to, at3["li"].support) == ("influencer", "wang", -1)
    at5 = acme.state("ACME", day(5)).contacts
    assert at5["li"].role == "end_user"
    assert at5["wang"].present
    at7 = acme.state("ACME", day(7)).contacts
    assert not at7["wang"].present
    assert at7["wang"].left_reason == "retired"


def test_a_reporting_line_that_loops_is_refused_naming_the_loop(acme: Accounts) -> None:
    add(acme, "wang", 1)
    add(acme, "li", 2, reports_to="wang")
    with pytest.raises(OrgChartCycle, match="wang → li → wang"):
        run(acme, cmd="contact_change", account="ACME", contact="wang", reports_to="li", at=at(3))
    assert acme.state("ACME", day(9)).contacts["wang"].reports_to is None


def test_a_backdated_line_that_loops_with_a_later_one_is_refused(acme: Accounts) -> None:
    add(acme, "wang", 1)
    add(acme, "li", 1)
    run(acme, cmd="contact_change", account="ACME", contact="li", reports_to="wang", at=at(5))
    version = acme.find("ACME").version  # type: ignore[union-attr]
    # At day 3 wang reporting to li is fine; from day 5 on it would loop.
    with pytest.raises(OrgChartCycle, match="would loop at"):
        run(acme, cmd="contact_change", account="ACME", contact="wang", reports_to="li", at=at(3))
    assert acme.find("ACME").version == version  # type: ignore[union-attr]


def test_reporting_to_an_unknown_contact_is_refused(acme: Accounts) -> None:
    with pytest.raises(UnknownContact, match="'zhao', who is not a contact"):
        add(acme, "li", 2, reports_to="zhao")
    add(acme, "zhao", 3)
    with pytest.raises(UnknownContact):  # zhao is not a contact yet at day 2
        add(acme, "li", 2, reports_to="zhao")
    add(acme, "li", 4, reports_to="zhao")
    assert acme.state("ACME", day(5)).contacts["li"].reports_to == "zhao"


def test_changing_an_unknown_or_departed_contact_is_refused(acme: Accounts) -> None:
    with pytest.raises(UnknownContact, match="not a contact of account 'ACME'"):
        run(acme, cmd="contact_change", account="ACME", contact="nobody", support=1, at=at(1))
    add(acme, "wang", 1)
    run(acme, cmd="contact_left", account="ACME", contact="wang", at=at(2))
    with pytest.raises(UnknownContact, match="they left"):
        run(acme, cmd="contact_change", account="ACME", contact="wang", support=1, at=at(3))
    add(acme, "wang", 4)  # back again
    assert acme.state("ACME", day(5)).contacts["wang"].present


def test_adding_a_present_contact_again_is_refused(acme: Accounts) -> None:
    add(acme, "wang", 1)
    with pytest.raises(ContactExists):
        add(acme, "wang", 2)
    with pytest.raises(ContactExists, match="added to account 'ACME' later"):
        add(acme, "wang", 0.5)


def test_activities_are_logged_with_their_attendees(acme: Accounts) -> None:
    add(acme, "wang", 1)
    run(
        acme,
        cmd="activity",
        account="ACME",
        kind="seminar",
        effective=True,
        attendees=["wang", "a guest"],
        note="产品发布会",
        at=at(2),
    )
    (activity,) = acme.state("ACME", day(3)).activities
    assert (activity.kind, activity.effective, activity.attendees) == (
        "seminar",
        True,
        ("wang", "a guest"),
    )
    assert acme.state("ACME", day(1)).activities == ()


# ------------------------------------------------------------------ the account itself


def test_a_grade_set_and_returned_to_derived(acme: Accounts) -> None:
    run(acme, cmd="grade", account="ACME", grade="B", at=at(1))
    run(acme, cmd="grade", account="ACME", grade=None, at=at(2))
    assert acme.state("ACME", day(1.5)).grade == "B"
    assert acme.state("ACME", day(3)).grade is None


def test_changes_before_the_opening_or_in_the_future_are_refused(acme: Accounts) -> None:
    with pytest.raises(InvalidTime, match="before account 'ACME' was opened"):
        run(acme, cmd="grade", account="ACME", grade="A", at=at(-1))
    with pytest.raises(InvalidTime, match="in the future"):
        run(acme, cmd="grade", account="ACME", grade="A", at=at(90))


def test_unknown_and_taken_accounts_are_refused(accounts: Accounts) -> None:
    with pytest.raises(UnknownAccount, match="unknown account 'NOPE'.*account adopt"):
        run(accounts, cmd="grade", account="NOPE", grade="A")
    run(accounts, cmd="account_open", account="ACME", owner="ann")
    with pytest.raises(AccountAlreadyExists):
        run(accounts, cmd="account_open", account="ACME", owner="bob")


def test_commands_are_idempotent_by_id(acme: Accounts) -> None:
    first = run(acme, cmd="grade", account="ACME", grade="A", id="g-1", at=at(1))
    again = run(acme, cmd="grade", account="ACME", grade="A", id="g-1", at=at(1))
    assert (first.status, again.status) == ("applied", "duplicate")
    assert again.version == first.version
    with pytest.raises(CommandIdReused):
        run(acme, cmd="grade", account="ACME", grade="B", id="g-1", at=at(1))
    opened = run(acme, cmd="account_open", account="NEW", owner="x", id="o-1")
    assert run(acme, cmd="account_open", account="NEW", owner="x", id="o-1").status == ("duplicate")
    assert opened.status == "applied"


def test_a_change_keeps_the_fields_it_does_not_name(acme: Accounts) -> None:
    run(acme, cmd="account_change", account="ACME", team="North", region="华北", at=at(1))
    run(acme, cmd="account_change", account="ACME", owner="bob", at=at(2))
    state = acme.state("ACME", day(3))
    assert (state.owner, state.team, state.region) == ("bob", "North", "华北")
    assert acme.state("ACME", day(1.5)).owner == "ann"


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"cmd": "share_of_wallet", "percent": "101"}, "percent"),
        ({"cmd": "share_of_wallet", "percent": "-1"}, "percent"),
        ({"cmd": "buying_power", "amount": "-5", "currency": "CNY"}, "amount"),
        ({"cmd": "buying_power", "amount": "5", "currency": "cny"}, "currency"),
        ({"cmd": "grade", "grade": "E"}, "grade"),
        ({"cmd": "contact_add", "contact": "w", "name": "W", "role": "boss"}, "role"),
        (
            {"cmd": "contact_add", "contact": "w", "name": "W", "role": "end_user", "support": 3},
            "support",
        ),
        ({"cmd": "account_open", "customer": "old", "owner": "a"}, "customer"),
        ({"cmd": "account_open"}, "owner"),
        ({"cmd": "activity", "kind": "a kind with spaces"}, "kind"),
    ],
)
def test_bad_values_are_refused_naming_the_field(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_account_command({"account": "ACME", **fields})
    assert f"field '{named}'" in describe_validation(caught.value)


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({"cmd": "contact_add", "contact": "w", "name": "W", "role": "end_user", "support": 3},
         "field 'support': Input should be less than or equal to 2 (given: 3)"),
        ({"cmd": "contact_change", "contact": "w", "support": -5},
         "field 'support': Input should be greater than or equal to -2 (given: -5)"),
        ({"cmd": "contact_add", "contact": "w", "name": "W", "role": "end_user", "support": 1.5},
         "(given: 1.5)"),
        ({"cmd": "contact_add", "contact": "w", "name": "W", "role": "end_user", "support": True},
         "(given: true)"),
        ({"cmd": "share_of_wallet", "percent": 101}, "(given: 101)"),
        ({"cmd": "buying_power", "amount": -5, "currency": "CNY"}, "(given: -5)"),
        ({"cmd": "share_of_wallet", "percent": "101"}, "(given: '101')"),
    ],
)  # fmt: skip
def test_given_a_value_out_of_range_when_refused_then_the_refusal_names_the_value_given(
    fields: dict[str, Any], shown: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_account_command({"account": "ACME", **fields})
    assert shown in describe_validation(caught.value)


def test_a_change_of_nothing_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least one of"):
        parse_account_command({"cmd": "account_change", "account": "ACME"})
    with pytest.raises(ValidationError, match="at least one of"):
        parse_account_command({"cmd": "contact_change", "account": "ACME", "contact": "w"})
