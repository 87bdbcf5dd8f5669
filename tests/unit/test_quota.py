"""Quotas: the aggregate's rules, its breakdowns, and the service's writes and reads
(docs/quotas.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from salesengine.application.engine import SalesEngine
from salesengine.application.quota_commands import parse_quota_command
from salesengine.application.quotas import Quotas
from salesengine.domain.errors import CommandIdReused, CommandRefused, InvalidTime
from salesengine.domain.quota import (
    BadBreakdown,
    MixedCurrency,
    NoQuota,
    QuotaPeriod,
    breakdown,
    even_parts,
)
from salesengine.importing.common.validation import describe_validation
from tests.support.clock import Clock

JAN = datetime(2026, 1, 1, tzinfo=UTC)


def quota(**fields: Any) -> Any:
    fields.setdefault("cmd", "set_quota")
    if isinstance(fields.get("at"), datetime):
        fields["at"] = fields["at"].isoformat()
    return parse_quota_command(fields)


@pytest.fixture
def quotas(memory_engine: SalesEngine) -> Quotas:
    return Quotas(memory_engine)


# ------------------------------------------------------------------ breakdowns


@given(
    amount=st.decimals(min_value=0, max_value=10**12, places=4, allow_nan=False),
    count=st.sampled_from([3, 4, 12]),
)
def test_even_parts_sum_exactly_to_the_whole_and_differ_by_one_unit_at_most(
    amount: Decimal, count: int
) -> None:
    parts = even_parts(amount, count)
    assert len(parts) == count
    assert sum(parts, Decimal(0)) == amount
    assert max(parts) - min(parts) <= Decimal("0.01")
    assert parts == sorted(parts, reverse=True)  # the remainder goes to the earliest


def test_the_remainder_goes_one_cent_each_to_the_earliest_periods() -> None:
    assert even_parts(Decimal("100.02"), 4) == [Decimal("25.01")] * 2 + [Decimal("25.00")] * 2
    months = breakdown(QuotaPeriod.parse("2026"), Decimal(1_000_000), "monthly")
    assert list(months) == [f"2026-{m:02d}" for m in range(1, 13)]
    assert months["2026-01"] == Decimal("83333.34") and months["2026-12"] == Decimal("83333.33")
    assert sum(months.values(), Decimal(0)) == Decimal(1_000_000)


def test_amounts_given_per_part_must_sum_to_the_whole() -> None:
    year = QuotaPeriod.parse("2026")
    given = tuple(map(Decimal, ("100", "200", "300", "400")))
    assert breakdown(year, Decimal(1000), given)["2026-Q4"] == Decimal(400)
    with pytest.raises(BadBreakdown, match="sum to 1000, not to its quota 999"):
        breakdown(year, Decimal(999), given)
    with pytest.raises(BadBreakdown, match=r"give 4 \(quarters\) or 12 \(months\)"):
        breakdown(year, Decimal(600), given[:3])
    with pytest.raises(BadBreakdown, match="cannot be split quarterly"):
        breakdown(QuotaPeriod.parse("2026-Q2"), Decimal(1), "quarterly")


@pytest.mark.parametrize(
    ("text", "name"), [("2026", "2026"), ("2026-q3", "2026-Q3"), ("2026-07", "2026-07")]
)
def test_periods_are_named_as_the_reports_name_them(text: str, name: str) -> None:
    assert QuotaPeriod.parse(text).name == name


# ------------------------------------------------------------------ writes


def test_given_a_yearly_quota_then_its_quarters_are_set_in_the_same_event(quotas: Quotas) -> None:
    result = quotas.execute(quota(rep="Li", period="2026", amount="1000000.01", currency="CNY",
                                  at=JAN))  # fmt: skip
    assert (result.status, result.event, result.version) == ("applied", "TargetSet", 2)
    view = quotas.view("rep", "Li", 2026, JAN, None)
    assert view is not None
    assert {p: t.amount for p, t in view.targets.items()} == {
        "2026": Decimal("1000000.01"),
        "2026-Q1": Decimal("250000.01"),
        "2026-Q2": Decimal("250000.00"),
        "2026-Q3": Decimal("250000.00"),
        "2026-Q4": Decimal("250000.00"),
    }
    assert view.targets["2026-Q2"].set_by == "2026"


def test_a_changed_quota_is_a_new_event_and_the_old_one_stays_visible_known_at_k(
    memory_engine: SalesEngine, clock: Clock
) -> None:
    quotas = Quotas(memory_engine)
    quotas.execute(quota(team="east", period="2026-Q1", amount="500000", currency="CNY", at=JAN))
    first = clock.now
    clock.tick(days=1)
    quotas.execute(quota(team="east", period="2026-Q1", amount="600000", at=JAN))
    later = JAN + timedelta(days=30)
    assert quotas.view("team", "east", 2026, later, None).targets["2026-Q1"].amount == 600000  # type: ignore[union-attr]
    assert quotas.view("team", "east", 2026, later, first).targets["2026-Q1"].amount == 500000  # type: ignore[union-attr]
    changes = quotas.changes("team", "east", 2026)
    assert [(c.type, c.amount) for c in changes] == [
        ("Opened", None), ("TargetSet", Decimal(500000)), ("TargetSet", Decimal(600000)),
    ]  # fmt: skip


def test_a_quota_is_in_force_from_its_effective_time(quotas: Quotas) -> None:
    quotas.execute(quota(rep="Li", period="2026-03", amount="10", currency="CNY", at=JAN))
    quotas.execute(quota(rep="Li", period="2026-03", amount="20", at=JAN + timedelta(days=40)))
    assert quotas.figures("2026-03", JAN - timedelta(seconds=1)) == []
    assert quotas.figures("2026-03", JAN)[0].amount == 10
    assert quotas.figures("2026-03", JAN + timedelta(days=40))[0].amount == 20


def test_mixed_currencies_in_one_subject_year_are_refused_and_nothing_is_stored(
    quotas: Quotas,
) -> None:
    quotas.execute(quota(rep="Li", period="2026-Q1", amount="100", currency="CNY", at=JAN))
    with pytest.raises(MixedCurrency, match="quotas are in CNY: a quota in USD would mix"):
        quotas.execute(quota(rep="Li", period="2026-Q2", amount="100", currency="USD", at=JAN))
    assert len(quotas.changes("rep", "Li", 2026)) == 2
    # Another year is another stream, free to use another currency.
    quotas.execute(quota(rep="Li", period="2027", amount="100", currency="USD", at=JAN))


def test_the_first_quota_needs_a_currency_later_ones_keep_it(quotas: Quotas) -> None:
    with pytest.raises(CommandRefused, match="needs its currency"):
        quotas.execute(quota(rep="Li", period="2026", amount="100", at=JAN))
    assert quotas.find("rep", "Li", 2026) is None
    quotas.execute(quota(rep="Li", period="2026-Q1", amount="100", currency="EUR", at=JAN))
    quotas.execute(quota(rep="Li", period="2026-Q2", amount="100", at=JAN))
    assert quotas.view("rep", "Li", 2026, JAN, None).currency == "EUR"  # type: ignore[union-attr]


def test_a_command_repeated_under_its_id_is_a_duplicate_and_another_under_it_refused(
    quotas: Quotas,
) -> None:
    command = quota(id="q-1", rep="Li", period="2026", amount="100", currency="CNY", at=JAN)
    assert quotas.execute(command).status == "applied"
    assert quotas.execute(command).status == "duplicate"
    with pytest.raises(CommandIdReused, match="different content"):
        quotas.execute(quota(id="q-1", rep="Li", period="2026", amount="101", at=JAN))
    assert len(quotas.changes("rep", "Li", 2026)) == 2


def test_a_bad_breakdown_stores_nothing(quotas: Quotas) -> None:
    with pytest.raises(BadBreakdown):
        quotas.execute(quota(team="east", period="2026", amount="10", currency="CNY",
                             split=["1", "2", "3", "5"], at=JAN))  # fmt: skip
    assert quotas.find("team", "east", 2026) is None


def test_a_quota_effective_in_the_future_is_refused(quotas: Quotas, clock: Clock) -> None:
    with pytest.raises(InvalidTime, match="in the future"):
        quotas.execute(quota(rep="Li", period="2026", amount="1", currency="CNY",
                             at=clock.now + timedelta(hours=1)))  # fmt: skip


def test_a_cleared_quota_is_gone_from_then_on_and_clearing_nothing_is_refused(
    quotas: Quotas,
) -> None:
    quotas.execute(quota(rep="Li", period="2026-Q1", amount="100", currency="CNY", at=JAN))
    cleared = quota(cmd="clear_quota", rep="Li", period="2026-Q1", at=JAN + timedelta(days=2))
    quotas.execute(cleared)
    assert quotas.figures("2026-Q1", JAN + timedelta(days=1))[0].amount == 100
    assert quotas.figures("2026-Q1", JAN + timedelta(days=3)) == []  # nothing in force
    with pytest.raises(NoQuota, match="hold none for 2026-Q2"):
        quotas.execute(quota(cmd="clear_quota", rep="Li", period="2026-Q2", at=JAN))
    with pytest.raises(CommandRefused, match="has no quotas"):
        quotas.execute(quota(cmd="clear_quota", team="west", period="2026-Q2", at=JAN))


# ------------------------------------------------------------------ teams


def test_a_team_without_its_own_quota_sums_its_reps_and_its_own_wins(quotas: Quotas) -> None:
    for rep, amount in (("Li", "300"), ("anna", "200")):
        quotas.execute(quota(rep=rep, team="east", period="2026-Q1", amount=amount,
                             currency="CNY", at=JAN))  # fmt: skip
    figures = {(f.kind, f.subject): f for f in quotas.figures("2026-Q1", JAN)}
    east = figures["team", "east"]
    assert (east.amount, east.source, east.reps) == (Decimal(500), "reps", ("Li", "anna"))
    quotas.execute(quota(team="east", period="2026-Q1", amount="450", currency="CNY", at=JAN))
    east = {(f.kind, f.subject): f for f in quotas.figures("2026-Q1", JAN)}["team", "east"]
    assert (east.amount, east.source) == (Decimal(450), "own")


def test_reps_quotas_in_several_currencies_are_not_added(quotas: Quotas) -> None:
    quotas.execute(quota(rep="Li", team="east", period="2026", amount="4", currency="CNY", at=JAN))
    quotas.execute(quota(rep="bo", team="east", period="2026", amount="4", currency="USD", at=JAN))
    east = {(f.kind, f.subject): f for f in quotas.figures("2026-Q1", JAN)}["team", "east"]
    assert east.amount is None and east.problem is not None and "CNY, USD" in east.problem


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"period": "2026", "amount": "1"}, "team"),  # neither rep nor team
        ({"rep": "Li", "period": "2026-Q5", "amount": "1"}, "period"),
        ({"rep": "Li", "period": "26", "amount": "1"}, "period"),
        ({"rep": "Li", "period": "2026", "amount": "-1"}, "amount"),
        ({"rep": "Li", "period": "2026", "amount": "lots"}, "amount"),
        ({"rep": "Li", "period": "2026", "amount": "1", "currency": "euro"}, "currency"),
        ({"rep": "Li", "period": "2026", "amount": "1", "split": "weekly"}, "split"),
        ({"rep": "Li", "period": "2026", "amount": "1", "at": "yesterday"}, "at"),
        ({"rep": "", "period": "2026", "amount": "1"}, "rep"),
        ({"rep": "Li", "period": "2026", "amount": "1", "colour": "red"}, "colour"),
    ],
)
def test_bad_input_names_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_quota_command({"cmd": "set_quota", **fields})
    assert f"field '{field}" in describe_validation(refused.value)


@pytest.mark.parametrize(
    ("fields", "refusal"),
    [
        ({"currency": "ZZ", "split": ["1", "2", "x", "4"]},
         "field 'currency': String should match pattern '^[A-Z]{3}$' (given: 'ZZ')"),
        ({"currency": "ZZ", "split": "weekly"},
         "field 'currency': String should match pattern '^[A-Z]{3}$' (given: 'ZZ')"),
        ({"amount": "lots", "split": ["1", "2"]},
         "field 'amount': Input should be a valid decimal (given: 'lots')"),
        ({"period": "2026-Q5", "split": "fortnightly"},
         "field 'period': Value error, '2026-Q5' is not a quota period (YYYY, YYYY-Qn or "
         "YYYY-MM) (given: '2026-Q5')"),
    ],
)  # fmt: skip
def test_given_a_bad_amount_currency_or_period_then_the_split_is_not_judged_before_it(
    fields: dict[str, Any], refusal: str
) -> None:
    command = {"cmd": "set_quota", "rep": "Li", "period": "2026", "amount": "100"} | fields
    with pytest.raises(ValidationError) as refused:
        parse_quota_command(command)
    assert describe_validation(refused.value) == refusal  # that refusal alone


@pytest.mark.parametrize(
    ("split", "refusal"),
    [
        ("weekly", "field 'split': Value error, none, quarterly or monthly, or the parts' "
                   "amounts in order (given: 'weekly')"),
        (["25", "25", "x", "50"], "field 'split': Value error, part 3 ('x') is not an amount: "
                                  "Input should be a valid decimal"),
        (["25", "-1"], "field 'split': Value error, part 2 ('-1') is not an amount: "
                       "Input should be greater than or equal to 0"),
        (7, "field 'split': Value error, none, quarterly or monthly, or the parts' amounts "
            "in order (given: 7)"),
    ],
)  # fmt: skip
def test_given_a_bad_split_then_one_refusal_says_what_a_split_is(
    split: object, refusal: str
) -> None:
    command = {"cmd": "set_quota", "rep": "Li", "period": "2026", "amount": "100", "split": split}
    with pytest.raises(ValidationError) as refused:
        parse_quota_command(command)
    assert describe_validation(refused.value) == refusal


def test_given_another_currency_and_a_bad_breakdown_then_the_currency_is_refused_first(
    quotas: Quotas,
) -> None:
    quotas.execute(quota(rep="Li", period="2026-Q1", amount="100", currency="CNY", at=JAN))
    with pytest.raises(MixedCurrency, match="quotas are in CNY"):
        quotas.execute(
            quota(rep="Li", period="2026", amount="100", currency="USD", split=["1", "2"], at=JAN)
        )
    with pytest.raises(CommandRefused, match="needs its currency"):
        quotas.execute(quota(rep="bo", period="2026", amount="100", split=["1", "2"], at=JAN))
    assert len(quotas.changes("rep", "Li", 2026)) == 2 and quotas.find("rep", "bo", 2026) is None


@pytest.mark.parametrize(
    ("amount", "shown"),
    [(-1, "(given: -1)"), (1.5e30, "(given: 1.5e+30)"), ("-1", "(given: '-1')")],
)
def test_given_a_bad_amount_written_as_a_number_then_the_refusal_names_it(
    amount: object, shown: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_quota_command({"cmd": "set_quota", "rep": "Li", "period": "2026", "amount": amount})
    assert "field 'amount'" in describe_validation(refused.value)
    assert shown in describe_validation(refused.value)
