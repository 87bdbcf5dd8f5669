"""The reports over the imported BPI Challenge 2012 log agree with a brute-force reading
of the log itself.

The oracle reads the XES file on its own (the standard library's parser, not the
importer) and follows the issue's mapping literally: a trace opens at A_SUBMITTED and
enters partly_submitted, preaccepted, accepted and finalized at those activities'
COMPLETE events, is won at the first of A_APPROVED, A_REGISTERED and A_ACTIVATED, lost
at A_DECLINED and abandoned at A_CANCELLED. Funnel, conversion and cycle time are then
computed from those stage timelines as docs/metrics.md defines them.
"""

from __future__ import annotations

import gzip
import statistics
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import numpy
import pytest

from salesengine.bootstrap import build_engine
from salesengine.importing.sources import import_source
from salesengine.importing.xes import read
from salesengine.projections.runner import ProjectionRunner
from salesengine.reports.conversion import conversion
from salesengine.reports.cycle_time import cycle_time
from salesengine.reports.funnel import funnel
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine
from tests.support.clock import Clock
from tests.support.data import BPI_LOG, shared_data

STAGES = ("submitted", "partly_submitted", "preaccepted", "accepted", "finalized")
ENTERS = {
    "A_SUBMITTED": "submitted",
    "A_PARTLYSUBMITTED": "partly_submitted",
    "A_PREACCEPTED": "preaccepted",
    "A_ACCEPTED": "accepted",
    "A_FINALIZED": "finalized",
    "A_APPROVED": "won",
    "A_REGISTERED": "won",
    "A_ACTIVATED": "won",
    "A_DECLINED": "lost",
    "A_CANCELLED": "abandoned",
}
OUTCOMES = ("won", "lost", "abandoned")
XES = "{http://www.xes-standard.org/}"


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime
    position: str


def source_timelines() -> dict[str, list[Entry]]:
    """Per trace, its stage entries in log order, straight from the XES file."""
    timelines: dict[str, list[Entry]] = {}
    with gzip.open(shared_data(BPI_LOG)) as handle:
        for _, element in ET.iterparse(handle):
            if element.tag.removeprefix(XES) != "trace":
                continue
            name = ""
            entries: list[Entry] = []
            for child in element:
                tag = child.tag.removeprefix(XES)
                if tag == "string" and child.get("key") == "concept:name":
                    name = child.get("value", "")
                if tag != "event":
                    continue
                attrs = {a.get("key"): a.get("value") for a in child}
                position = ENTERS.get(attrs.get("concept:name") or "")
                if position is None or attrs.get("lifecycle:transition") != "COMPLETE":
                    continue
                if entries and entries[-1].position in OUTCOMES:
                    continue  # after the outcome: facts, not moves
                at = datetime.fromisoformat(attrs["time:timestamp"] or "").astimezone(UTC)
                entries.append(Entry(at, position))
            # Timeline order: by effective time, ties in log order (a stable sort).
            timelines[name] = sorted(entries, key=lambda e: e.at)
            element.clear()
    return timelines


def position_at(entries: list[Entry], at: datetime) -> str | None:
    current = None
    for entry in entries:
        if entry.at <= at:
            current = entry.position
    return current


def intervals(entries: list[Entry]) -> Iterator[tuple[str, datetime, datetime]]:
    for before, after in pairwise(entries):
        yield before.position, before.at, after.at


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    log = shared_data(BPI_LOG)
    db = str(tmp_path_factory.mktemp("bpi") / "bpi.db")
    engine = build_engine(db, clock=Clock(datetime(2026, 1, 1, tzinfo=UTC)), actor="importer")
    report = import_source(engine, log, "xes", read(log, "bpi2012", None))
    assert not report.refused, report.refused[:5]
    sql = sql_engine(store_settings(db))
    ProjectionRunner(engine, sql).catch_up()
    policies = {"bpi2012": engine.catalog.get("bpi2012")}
    with sql.connect() as conn:
        yield conn, policies
    sql.dispose()
    engine.close()


@pytest.fixture(scope="module")
def timelines() -> dict[str, list[Entry]]:
    return source_timelines()


INSTANTS = [
    datetime(2011, 10, 15, tzinfo=UTC),
    datetime(2011, 12, 1, 12, tzinfo=UTC),
    datetime(2012, 1, 31, tzinfo=UTC),
    datetime(2012, 3, 15, tzinfo=UTC),
]


@pytest.mark.parametrize("as_of", INSTANTS)
def test_the_funnel_of_the_imported_log_counts_what_the_log_says(
    imported: Any, timelines: dict[str, list[Entry]], as_of: datetime
) -> None:
    conn, policies = imported
    expected = Counter(
        p for entries in timelines.values() if (p := position_at(entries, as_of)) is not None
    )
    rows = funnel(conn, policies, as_of=as_of)
    found = {row.stage: row.deals for row in rows if row.deals}
    assert found == dict(expected)
    assert sum(found.values()) > 0


def test_the_outcomes_at_the_end_of_the_log_match_its_terminal_events(
    imported: Any, timelines: dict[str, list[Entry]]
) -> None:
    conn, policies = imported
    rows = funnel(conn, policies, as_of=datetime(2012, 12, 31, tzinfo=UTC))
    found = {row.stage: row.deals for row in rows}
    assert (found["won"], found["lost"], found["abandoned"]) == (2246, 7635, 2807)
    assert sum(found.get(stage, 0) for stage in STAGES) == 399
    assert len(timelines) == 13087


WINDOWS = [
    (datetime(2011, 10, 1, tzinfo=UTC), datetime(2011, 11, 1, tzinfo=UTC)),
    (datetime(2011, 11, 1, tzinfo=UTC), datetime(2012, 1, 1, tzinfo=UTC)),
    (datetime(2011, 9, 1, tzinfo=UTC), datetime(2012, 4, 1, tzinfo=UTC)),
]


@pytest.mark.parametrize(("start", "end"), WINDOWS)
def test_conversion_of_the_imported_log_follows_its_stage_entries(
    imported: Any,
    timelines: dict[str, list[Entry]],
    start: datetime,
    end: datetime,
) -> None:
    conn, policies = imported
    expected = {}
    for stage in STAGES:
        cohort = advanced = lost = 0
        rank = STAGES.index(stage)
        for entries in timelines.values():
            first = next((i for i, e in enumerate(entries) if e.position == stage), None)
            if first is None or not start <= entries[first].at < end:
                continue
            cohort += 1
            later = entries[first + 1 :]
            if any(
                e.position == "won" or STAGES.index(e.position) > rank
                for e in later
                if e.position not in ("lost", "abandoned")
            ):
                advanced += 1
            elif entries[-1].position in ("lost", "abandoned"):
                lost += 1
        expected[stage] = (cohort, advanced, lost, cohort - advanced - lost)
    rows = conversion(conn, policies, start=start, end=end)
    found = {r.stage: (r.cohort, r.advanced, r.lost, r.open) for r in rows}
    assert found == expected
    assert expected["submitted"][0] > 0


@pytest.mark.parametrize(("start", "end"), WINDOWS)
def test_cycle_times_of_the_imported_log_follow_its_stage_intervals(
    imported: Any,
    timelines: dict[str, list[Entry]],
    start: datetime,
    end: datetime,
) -> None:
    conn, policies = imported
    values: dict[str, list[float]] = {stage: [] for stage in (*STAGES, "won")}
    for entries in timelines.values():
        for stage, entered, exited in intervals(entries):
            if stage in STAGES and start <= exited < end:
                values[stage].append((exited - entered).total_seconds() / 86_400)
        for entry in entries:
            if entry.position == "won" and start <= entry.at < end:
                values["won"].append((entry.at - entries[0].at).total_seconds() / 86_400)
    rows = {r.stage: r for r in cycle_time(conn, policies, start=start, end=end)}
    assert set(rows) == set(values)
    for stage, found in values.items():
        row = rows[stage]
        assert row.count == len(found), stage
        if not found:
            assert row.mean_days is None
            continue
        ordered = sorted(found)
        assert row.mean_days == pytest.approx(statistics.fmean(ordered), rel=1e-9, abs=1e-9)
        assert row.median_days == pytest.approx(statistics.median(ordered), rel=1e-9, abs=1e-9)
        p90 = float(numpy.percentile(ordered, 90))
        assert row.p90_days == pytest.approx(p90, rel=1e-9, abs=1e-9)
