"""The whole command language: every family's commands read by one parser, each told
to its family, refused naming the field, and published in one schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from salesengine.application.account_commands import ACCOUNT_COMMAND_NAMES
from salesengine.application.command_language import (
    ALL_COMMAND_NAMES,
    is_account_command,
    is_deal_command,
    is_quota_command,
    language_schema,
    parse_any_command,
)
from salesengine.application.commands import COMMAND_NAMES
from salesengine.application.quota_commands import QUOTA_COMMAND_NAMES
from salesengine.importing.common.validation import describe_validation

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "commands.schema.json"
AT = "2026-03-01T10:00:00+08:00"

SAMPLES: dict[str, dict[str, Any]] = {
    "account_open": {"owner": "ana"},
    "account_change": {"industry": "retail"},
    "buying_power": {"amount": "750000", "currency": "EUR"},
    "share_of_wallet": {"percent": 12.5},
    "grade": {"grade": "A"},
    "contact_add": {"contact": "li", "name": "Li Wei", "role": "influencer"},
    "contact_change": {"contact": "li", "clear": ["title"]},
    "contact_left": {"contact": "li"},
    "activity": {"kind": "seminar"},
}


def refusal(raw: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        parse_any_command(raw)
    return describe_validation(info.value)


def test_the_names_of_the_families_are_distinct_and_all_in_the_language() -> None:
    families = [COMMAND_NAMES, ACCOUNT_COMMAND_NAMES, QUOTA_COMMAND_NAMES]
    assert sum(len(f) for f in families) == len(set(ALL_COMMAND_NAMES))
    assert {"key_info", "retract_key_info"} <= set(COMMAND_NAMES)


@pytest.mark.parametrize("name", ACCOUNT_COMMAND_NAMES)
def test_each_account_command_is_read_and_told_to_be_an_accounts(name: str) -> None:
    command = parse_any_command({"cmd": name, "account": "ACME", "at": AT, **SAMPLES[name]})
    assert command.cmd == name
    assert is_account_command(command)
    assert not is_deal_command(command) and not is_quota_command(command)


@pytest.mark.parametrize("name", QUOTA_COMMAND_NAMES)
def test_each_quota_command_is_read_and_told_to_be_a_quotas(name: str) -> None:
    extra = {"amount": "100", "currency": "EUR"} if name == "set_quota" else {}
    command = parse_any_command({"cmd": name, "team": "north", "period": "2026-q1", **extra})
    assert is_quota_command(command) and not is_account_command(command)
    assert command.period == "2026-Q1"


def test_a_deal_command_is_a_deals() -> None:
    command = parse_any_command({"cmd": "visit", "deal": "D-1"})
    assert is_deal_command(command) and not is_account_command(command)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"cmd": "buying_power", "account": "A", "amount": "1", "currency": "usd"}, "currency"),
        ({"cmd": "buying_power", "account": "A", "amount": "-1", "currency": "USD"}, "amount"),
        ({"cmd": "share_of_wallet", "account": "A", "percent": "NaN"}, "percent"),
        (
            {"cmd": "contact_add", "account": "A", "contact": "c", "name": "C", "role": "boss"},
            "role",
        ),
        ({"cmd": "account_change", "account": "A"}, "line"),  # changes nothing: the whole line
        ({"cmd": "set_quota", "rep": "ana", "period": "2026-13", "amount": "1"}, "period"),
        ({"cmd": "clear_quota", "period": "2026"}, "team"),
        ({"cmd": "set_quota", "team": "t", "period": "2026", "amount": "1", "by": ""}, "by"),
    ],
)
def test_a_bad_account_or_quota_command_is_refused_naming_its_field(
    raw: dict[str, Any], expected: str
) -> None:
    assert f"field '{expected}'" in refusal(raw)


def test_an_unknown_command_lists_every_familys_names() -> None:
    message = refusal({"cmd": "account_close", "account": "A"})
    assert "field 'cmd'" in message
    for name in ("open", "key_info", "retract_key_info", "account_open", "set_quota"):
        assert name in message


def test_the_published_schema_holds_every_command_of_every_family() -> None:
    published = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert published == language_schema(), "run: salesengine schema > docs/commands.schema.json"
    assert sorted(published["discriminator"]["mapping"]) == sorted(ALL_COMMAND_NAMES)
