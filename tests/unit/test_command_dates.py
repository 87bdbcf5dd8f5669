"""A plain date in a command's ``at`` is the start of that day in UTC, as on the command
line (docs/rules.md, "Instants"); a time without an offset stays refused, and a next
step's due date keeps its own meaning (the end of that day)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from salesengine.application.command_language import parse_any_command
from salesengine.application.commands import SetNextStep, parse_command
from salesengine.application.instants import parse_instant
from salesengine.importing.common.validation import describe_validation


@pytest.mark.parametrize(
    "raw",
    [
        {"cmd": "fact", "deal": "D", "name": "budget", "at": "2020-01-01"},
        {"cmd": "grade", "account": "A", "grade": "A", "at": "2020-01-01"},
        {"cmd": "set_quota", "rep": "ana", "team": "north", "period": "2020", "amount": "5",
         "at": "2020-01-01"},
    ],
)  # fmt: skip
def test_given_a_plain_date_at_when_parsed_then_it_is_that_days_start_in_utc(
    raw: dict[str, object],
) -> None:
    command = parse_any_command(raw)
    assert command.at == datetime(2020, 1, 1, tzinfo=UTC) == parse_instant("2020-01-01")


def test_given_a_time_without_offset_or_an_impossible_date_then_it_is_refused() -> None:
    for at, reason in (
        ("2020-01-01T10:00:00", "Input should have timezone info"),
        ("2020-02-30", "day is out of range for month"),
        ("0001-01-01", "field 'at'"),
    ):
        with pytest.raises(ValidationError) as info:
            parse_command({"cmd": "fact", "deal": "D", "name": "budget", "at": at})
        assert reason in describe_validation(info.value), at


def test_given_a_due_date_then_it_stays_a_date() -> None:
    step = parse_command({"cmd": "next_step", "deal": "D", "action": "call", "due": "2020-01-01"})
    assert isinstance(step, SetNextStep) and step.due == date(2020, 1, 1)
