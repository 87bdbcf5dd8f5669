"""The command language: bad input is refused naming the field and the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from salesengine.application.command_language import ALL_COMMAND_NAMES, language_schema
from salesengine.application.commands import (
    COMMAND_NAMES,
    ChangeAmount,
    command_digest,
    parse_command,
)
from salesengine.importing.common.validation import describe_validation

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "commands.schema.json"


def refusal(raw: dict[str, object]) -> str:
    with pytest.raises(ValidationError) as info:
        parse_command(raw)
    return describe_validation(info.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"cmd": "fact", "deal": "D", "name": "budget", "at": "2026-03-01T10:00:00"},
            "field 'at': Input should have timezone info",
        ),
        (
            {"cmd": "fact", "deal": "D", "name": "budget", "at": "yesterday"},
            "field 'at': Value error, must be ISO 8601",
        ),
        (
            {"cmd": "fact", "deal": "D", "name": "budget", "at": "2026-03-01T25:00:00Z"},
            "field 'at': Input should be a valid datetime",
        ),
        (  # not seconds since 1970
            {"cmd": "fact", "deal": "D", "name": "budget", "at": "1767300000"},
            "field 'at': Value error, must be ISO 8601",
        ),
        (
            {"cmd": "next_step", "deal": "D", "action": "call", "due": "20260331"},
            "must be ISO 8601",
        ),
        (
            {"cmd": "amount", "deal": "D", "amount": "-5"},
            "field 'amount': Input should be greater than or equal to 0",
        ),
        ({"cmd": "amount", "deal": "D", "amount": "NaN"}, "field 'amount'"),
        (  # Python's Decimal reads these as 1000
            {"cmd": "amount", "deal": "D", "amount": "1_000"},
            "field 'amount': Value error, must be a number written with the digits 0-9",
        ),
        (
            {"cmd": "amount", "deal": "D", "amount": "\u0661\u0660\u0660\u0660"},
            "field 'amount': Value error, must be a number written with the digits 0-9",
        ),
        (
            {"cmd": "amount", "deal": "D", "amount": 10, "currency": "usd"},
            "field 'currency': String should match pattern",
        ),
        ({"cmd": "advance", "deal": "D"}, "field 'to': Field required"),
        ({"cmd": "promote", "deal": "D"}, "field 'cmd': unknown command 'promote'"),
        ({"deal": "D"}, "field 'cmd': missing"),
        ({"cmd": "won", "deal": "D", "amout": 5}, "field 'amout': Extra inputs are not permitted"),
        ({"cmd": "won", "deal": ""}, "field 'deal': String should have at least 1 character"),
        ({"cmd": "won", "deal": "a\nb"}, "field 'deal': Value error, must not contain control"),
        ({"cmd": "regress", "deal": "D", "to": "identified"}, "field 'reason': Field required"),
        (
            {"cmd": "next_step", "deal": "D", "action": "call", "due": "2026-03-01T10:00:00"},
            "field 'due",
        ),
    ],
)
def test_bad_commands_are_refused_naming_the_field(raw: dict[str, object], expected: str) -> None:
    assert expected in refusal(raw)


def test_every_command_of_the_language_parses() -> None:
    samples: dict[str, dict[str, object]] = {
        "open": {"policy": "five-level", "facts": {"budget": True}},
        "fact": {"name": "budget", "value": "1.2M"},
        "retract": {"name": "budget"},
        "advance": {"to": "contacted"},
        "regress": {"to": "identified", "reason": "champion left"},
        "visit": {"kind": "face_to_face", "effective": True, "attendees": ["CIO 王总"]},
        "next_step": {"action": "demo", "due": "2026-03-09"},
        "done": {},
        "amount": {"amount": "1200000.50", "currency": "CNY"},
        "expected_close": {"expected_close": "2026-06-30"},
        "owner": {"owner": "Li Wei"},
        "won": {},
        "lost": {"reason": "price", "competitor": "Acme"},
        "abandon": {"reason": "budget frozen"},
        "reopen": {"to": "identified"},
        "key_info": {"info": {"topic": "budget", "amount": "1200000"}, "evidence": "CFO"},
        "retract_key_info": {"topic": "budget", "reason": "frozen"},
    }
    assert set(samples) == set(COMMAND_NAMES)
    for name, fields in samples.items():
        command = parse_command(
            {"cmd": name, "deal": "D-1", "at": "2026-03-01T10:00:00+08:00", **fields}
        )
        assert command.cmd == name


def test_the_published_json_schema_matches_the_models() -> None:
    published = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert published == language_schema(), "run: salesengine schema > docs/commands.schema.json"
    assert sorted(published["discriminator"]["mapping"]) == sorted(ALL_COMMAND_NAMES)


def test_a_negative_zero_amount_is_zero() -> None:
    for text in ("-0", "-0.00"):
        command = parse_command({"cmd": "amount", "deal": "D", "amount": text})
        assert isinstance(command, ChangeAmount)
        assert not command.amount.is_signed()
        assert command.amount == 0


def test_an_amount_in_exponent_form_is_kept_in_positional_form() -> None:
    command = parse_command({"cmd": "amount", "deal": "d", "amount": "1e3"})
    assert isinstance(command, ChangeAmount)
    assert str(command.amount) == "1000"
    small = parse_command({"cmd": "amount", "deal": "d", "amount": "1.50E-2"})
    assert isinstance(small, ChangeAmount)
    assert str(small.amount) == "0.0150"


def test_a_command_digest_follows_what_the_command_says_not_how_it_is_spelt() -> None:
    def digest(**fields: object) -> str:
        return command_digest(parse_command({"id": "c-1", "deal": "D-1", **fields}))

    opening = {"cmd": "open", "policy": "five-level", "amount": "1000"}
    facts = {"need_determined": True, "visit_arranged": True}
    same = digest(**opening, at="2026-03-01T10:00:00+08:00", facts=facts)
    # Key order, the offset of the same instant, an amount's spelling: one command.
    assert digest(**opening, at="2026-03-01T02:00:00Z", facts=dict(reversed(facts.items()))) == (
        same
    )
    assert digest(**{**opening, "amount": "1e3"}, at="2026-03-01T02:00:00Z", facts=facts) == same
    # Any field that differs: another command.
    assert digest(**opening, at="2026-03-01T02:00:01Z", facts=facts) != same
    assert digest(**opening, at="2026-03-01T02:00:00Z", facts={**facts, "x": 1}) != same
    assert digest(**opening, at="2026-03-01T02:00:00Z", facts=facts, by="ann") != same
    # A reopening's next step is part of what it says.
    step = {"action": "call", "due": "2026-03-09"}
    reopen = {"cmd": "reopen", "to": "identified", "reason": "back"}
    assert digest(**reopen, next_step=step) != digest(
        **reopen, next_step={**step, "due": "2026-03-10"}
    )
    assert len(same) == 16
