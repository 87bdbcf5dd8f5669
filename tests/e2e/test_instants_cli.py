"""Every option that takes an instant takes a plain date too, with one meaning: the
start of that day in UTC (docs/rules.md, "Instants on the command line")."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salesengine.cli.options import parse_time
from tests.support.cli_inputs import T, pipeline
from tests.support.cli_runner import CLI

DAY = (T + timedelta(days=2)).date().isoformat()  # the pipeline's deals are open then
EARLIER = (T - timedelta(days=1)).date().isoformat()
TODAY = datetime.now(UTC).date().isoformat()
TOMORROW = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
QUARTER = f"{T.year}-Q{(T.month - 1) // 3 + 1}"


def midnight(day: str) -> str:
    return f"{day}T00:00:00+00:00"


READS: list[tuple[str, ...]] = [
    ("funnel", "--as-of", DAY, "--json"),
    ("funnel", "--as-of", DAY, "--known-at", TOMORROW, "--json"),
    ("funnel", "--as-of", EARLIER, "--compare", DAY, "--json"),
    ("conversion", "--from", EARLIER, "--to", DAY, "--json"),
    ("cycle-time", "--from", EARLIER, "--to", TOMORROW, "--json"),
    ("forecast", "--as-of", DAY, "--known-at", TOMORROW, "--json"),
    ("health", "--as-of", DAY, "--json"),
    ("plan", "--target", "100000", "--period", QUARTER, "--as-of", DAY, "--json"),
    ("history", "A", "--as-of", DAY, "--known-at", TOMORROW, "--json"),
    ("export", "-", "--as-of", DAY, "--known-at", TOMORROW),
]


def spelt_out(args: tuple[str, ...]) -> tuple[str, ...]:
    """The same arguments with each date written as its instant, 00:00 UTC."""
    dates = {DAY, EARLIER, TOMORROW}
    return tuple(midnight(a) if a in dates else a for a in args)


@pytest.mark.parametrize("args", READS, ids=lambda a: "-".join(a[:2]))
def test_a_date_reads_as_the_start_of_its_day_in_utc(
    cli: CLI, tmp_path: Path, args: tuple[str, ...]
) -> None:
    assert cli("import", str(pipeline(tmp_path))).code == 0
    by_date = cli(*args)
    assert by_date.code == 0, by_date.err
    by_instant = cli(*spelt_out(args))
    assert by_instant.code == 0, by_instant.err
    assert by_date.out == by_instant.out
    assert by_date.out.strip()


def test_writes_take_a_date_as_the_start_of_its_day_too(cli: CLI, tmp_path: Path) -> None:
    assert cli("import", str(pipeline(tmp_path))).code == 0
    assert cli("deal", "visit", "A", "--at", DAY).code == 0
    events = cli("history", "A", "--json").json()["events"]
    assert [e["effective_at"] for e in events if e["type"] == "VisitLogged"] == [midnight(DAY)]
    swept = cli("sweep", "--at", DAY, "--json")
    assert swept.code == 0, swept.err
    assert swept.json()["at"] == midnight(DAY)


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("funnel", "--as-of", "2026-02-30"), "--as-of"),
        (("history", "A", "--known-at", "1899-12-31"), "--known-at"),
        (("sweep", "--at", "2026-13-01"), "--at"),
        (("deal", "visit", "A", "--at", "2026-02-30"), "--at"),
    ],
)
def test_a_date_that_is_none_is_refused_naming_the_option(
    cli: CLI, args: tuple[str, ...], option: str
) -> None:
    run = cli(*args)
    assert run.code == 2, run
    assert option in run.err
    assert "Traceback" not in run.err


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(8999, 12, 31)))
def test_every_date_is_its_midnight_utc(day: date) -> None:
    text = day.isoformat()
    assert parse_time(text, "--as-of") == datetime(day.year, day.month, day.day, tzinfo=UTC)
    assert parse_time(text, "--as-of") == parse_time(f"{text}T00:00:00Z", "--as-of")
