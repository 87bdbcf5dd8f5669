"""A --known-at before anything was recorded says so, with the store's earliest recorded
instant: a warning on stderr, and ``earliest_recorded`` in the --json output."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.support.cli_inputs import pipeline
from tests.support.cli_runner import CLI, write_jsonl

EARLY = "2000-01-01"
WINDOW = ("--from", "2000-01-01", "--to", "2100-01-01")
REPORTS: list[tuple[str, ...]] = [
    ("funnel",),
    ("funnel", "--as-of", "2001-01-01", "--compare", "2099-01-01"),
    ("conversion", *WINDOW),
    ("cycle-time", *WINDOW),
    ("forecast",),
    ("health",),
    ("plan", "--target", "100000", "--period", "2026", "--policy", "five-level"),
]


def earliest(cli: CLI) -> str:
    """The least recorded time of any event, as the deals' histories give it."""
    times: list[str] = [
        e["recorded_at"]
        for key in ("A", "B", "C")
        for e in cli("history", key, "--json").json()["events"]
    ]
    return min(times, key=datetime.fromisoformat)


@pytest.fixture
def two_imports(cli: CLI, tmp_path: Path) -> CLI:
    """The pipeline, and a later deal C from a second import (recorded later)."""
    assert cli("import", str(pipeline(tmp_path))).code == 0
    later = [{"cmd": "open", "deal": "C", "policy": "funnel-list"}]
    assert cli("import", str(write_jsonl(tmp_path / "later.jsonl", later))).code == 0
    return cli


@pytest.mark.parametrize("args", REPORTS, ids=lambda a: "-".join(a[:3]))
def test_a_known_at_before_anything_recorded_names_the_earliest_record(
    two_imports: CLI, args: tuple[str, ...]
) -> None:
    first = earliest(two_imports)
    run = two_imports(*args, "--known-at", EARLY)
    assert run.code == 0, run.err
    assert "warning: --known-at 2000-01-01T00:00:00+00:00 is before anything was recorded" in (
        run.err
    )
    assert f"earliest record is at {first}" in run.err
    as_json = two_imports(*args, "--known-at", EARLY, "--json")
    assert as_json.code == 0, as_json.err
    assert as_json.json()["earliest_recorded"] == first
    assert "earliest record is at" in as_json.err


@pytest.mark.parametrize("args", REPORTS, ids=lambda a: "-".join(a[:3]))
def test_a_known_at_after_the_first_record_warns_of_nothing(
    two_imports: CLI, args: tuple[str, ...]
) -> None:
    first = earliest(two_imports)
    k = (datetime.fromisoformat(first) + timedelta(microseconds=1)).isoformat()
    run = two_imports(*args, "--known-at", k, "--json")
    assert run.code == 0, run.err
    assert "warning" not in run.err
    assert run.json()["earliest_recorded"] == first
    without_k = two_imports(*args, "--json")
    assert without_k.json()["earliest_recorded"] == first
    assert "warning" not in without_k.err


def test_an_empty_store_says_nothing_was_recorded(cli: CLI) -> None:
    assert cli("sweep").code == 0  # a store, with no event in it
    run = cli("funnel", "--known-at", EARLY, "--json")
    assert run.code == 0, run.err
    assert "the store holds no events yet" in run.err
    assert run.json()["earliest_recorded"] is None


def test_history_names_when_the_deal_was_first_recorded(two_imports: CLI) -> None:
    opened = two_imports("history", "C", "--json").json()["events"][0]["recorded_at"]
    run = two_imports("history", "C", "--known-at", EARLY)
    assert run.code == 0, run.err
    assert f"its first event was recorded at {opened}" in run.err
    shown = two_imports("history", "C", "--known-at", EARLY, "--json").json()
    assert shown["events"] == [] and shown["first_recorded"] == opened


def test_account_and_quota_reports_count_their_own_streams_as_recorded(
    cli: CLI, tmp_path: Path
) -> None:
    # Once only the deals counted: accounts opened before any deal were listed under a
    # warning that nothing was known at K, and a quota list before any quota warned of
    # nothing.
    first = [
        {"cmd": "account_open", "account": "ACME", "owner": "li", "team": "east"},
        {"cmd": "set_quota", "rep": "li", "team": "east", "period": "2026", "amount": "100",
         "currency": "CNY"},
    ]  # fmt: skip
    assert cli("import", str(write_jsonl(tmp_path / "first.jsonl", first))).code == 0
    opened = cli("account", "history", "ACME", "--json").json()["events"][0]["recorded_at"]
    later = [{"cmd": "open", "deal": "C", "policy": "funnel-list", "account": "ACME"}]
    assert cli("import", str(write_jsonl(tmp_path / "later.jsonl", later))).code == 0
    listed = cli("account", "list", "--known-at", opened, "--json")
    assert listed.code == 0, listed.err
    assert "warning" not in listed.err
    assert listed.json()["earliest_recorded"] == opened
    assert [a["account"] for a in listed.json()["accounts"]] == ["ACME"]
    early = cli("quota", "list", "--known-at", EARLY)
    assert "is before anything was recorded" in early.err
    after_quota = cli("history", "C", "--json").json()["events"][0]["recorded_at"]
    assert "warning" not in cli("quota", "list", "--known-at", after_quota).err
