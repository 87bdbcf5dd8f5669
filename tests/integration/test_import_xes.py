"""XES event logs import as deal histories: the whole BPI Challenge 2012 log with its
shipped mapping, small hand-made logs, and logs or mappings too broken to use."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from eventsourcing.utils import get_topic

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.domain.deal import Deal
from salesengine.importing.common.errors import MappingError, SourceError
from salesengine.importing.common.items import Skipped, SourceCommand
from salesengine.importing.sources import Problem, SourceReport, import_source
from salesengine.importing.xes import read
from tests.support.clock import Clock
from tests.support.data import BPI_LOG, TEST_DATA, shared_data

DATA = TEST_DATA
SMALL = DATA / "xes-small.xes"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def fresh_engine(path: Path) -> SalesEngine:
    return build_engine(str(path), clock=Clock(NOW), actor="importer")


def import_xes(engine: SalesEngine, path: Path, mapping: str = "bpi2012") -> SourceReport:
    return import_source(engine, path, "xes", read(path, mapping, None))


def outcomes(engine: SalesEngine) -> Counter[str]:
    """Each deal's latest outcome from the store's notification log; the rest are open."""
    topics = {
        get_topic(Deal.Won): "won",
        get_topic(Deal.Lost): "lost",
        get_topic(Deal.Abandoned): "abandoned",
        get_topic(Deal.Reopened): "open",
    }
    latest: dict[object, str] = {}
    start = 1
    while True:
        page = engine.recorder.select_notifications(start, 5000, topics=list(topics))
        for n in page:
            latest[n.originator_id] = topics[n.topic]
        if len(page) < 5000:
            break
        start = page[-1].id + 1
    counts = Counter(latest.values())
    counts["open"] += sum(1 for _ in engine.deal_keys()) - len(latest)
    return counts


@dataclass
class Imported:
    engine: SalesEngine
    report: SourceReport


@pytest.fixture(scope="module")
def bpi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Imported]:
    """The whole log imported once into a fresh SQLite store."""
    log = shared_data(BPI_LOG)
    engine = fresh_engine(tmp_path_factory.mktemp("bpi") / "events.db")
    yield Imported(engine, import_xes(engine, log))
    engine.close()


def test_every_event_of_the_bpi_log_is_read_and_every_command_applied(bpi: Imported) -> None:
    report = bpi.report
    assert report.rows == 262_200
    assert report.refused == []
    assert report.applied == report.commands == 262_200 - len(report.skipped)
    assert report.duplicates == 0


def test_each_of_the_13087_traces_arrives_as_one_deal(bpi: Imported) -> None:
    keys = list(bpi.engine.deal_keys())
    assert len(keys) == 13_087
    assert len(set(keys)) == 13_087
    assert all(key.startswith("bpi2012-") for key in keys)


def test_outcomes_match_the_log_won_lost_abandoned_and_still_open(bpi: Imported) -> None:
    assert outcomes(bpi.engine) == Counter(won=2_246, lost=7_635, abandoned=2_807, open=399)


def test_only_start_and_schedule_events_are_skipped_and_each_is_counted(bpi: Imported) -> None:
    reasons = Counter(problem.message.split(":")[0] for problem in bpi.report.skipped)
    assert reasons == {"START lifecycle": 71_376, "SCHEDULE lifecycle": 26_318}


def test_a_deal_keeps_the_source_instants_across_the_dst_change(bpi: Imported) -> None:
    # Trace 180613 opened on 2011-10-29 at +02:00 and was approved on 2011-11-10 at +01:00.
    state = bpi.engine.load("bpi2012-180613").state
    assert state.opened_at == datetime(2011, 10, 29, 8, 19, 23, 954000, tzinfo=UTC)
    assert state.closed_at == datetime(2011, 11, 10, 10, 37, 34, 932000, tzinfo=UTC)
    assert state.status == "won"
    assert state.facts["activated"] is True
    assert state.facts["registered"] is True
    assert "approved" not in state.facts  # A_APPROVED came first: it is the win itself
    assert (state.amount, state.currency, state.policy) == (Decimal(5000), "EUR", "bpi2012")


def test_commands_carry_the_trace_and_event_they_came_from(bpi: Imported) -> None:
    deal = bpi.engine.load("bpi2012-173688")
    opened = deal.timeline[0]
    assert isinstance(opened, Deal.Opened)
    assert opened.provenance is not None
    assert opened.provenance["trace"] == "173688"
    assert opened.provenance["event"] == "1"
    assert opened.provenance["source_id"] == "173688/1"
    assert opened.actor == "112"
    assert deal.state.owner == "112"


def test_importing_the_log_again_adds_nothing(bpi: Imported) -> None:
    again = import_xes(bpi.engine, BPI_LOG)
    assert again.applied == 0
    assert again.refused == []
    assert again.duplicates == bpi.report.commands


# ------------------------------------------------------------ small hand-made logs


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[SalesEngine]:
    engine = fresh_engine(tmp_path / "events.db")
    yield engine
    engine.close()


def test_a_plain_xes_log_imports_with_each_trace_as_a_deal(engine: SalesEngine) -> None:
    report = import_xes(engine, SMALL)
    # A trace attribute that is no amount is refused on its own; the deal opens without.
    assert [(p.where, p.message) for p in report.refused] == [
        (
            "trace 1003, attribute AMOUNT_REQ",
            "field 'amount': Input should be a valid decimal (given: 'UNKNOWN')",
        )
    ]
    assert (report.rows, report.commands, report.applied) == (19, 17, 16)
    assert (report.imported_rows, report.refused_rows, report.skipped_rows) == (15, 1, 3)
    assert sorted(engine.deal_keys()) == [f"bpi2012-100{n}" for n in range(1, 5)]
    states = {key: engine.load(key).state for key in engine.deal_keys()}
    assert [states[f"bpi2012-100{n}"].status for n in range(1, 5)] == [
        "won",
        "lost",
        "abandoned",
        "open",
    ]
    assert states["bpi2012-1004"].stage == "partly_submitted"
    assert states["bpi2012-1002"].outcome_reason == "A_DECLINED"
    assert states["bpi2012-1003"].amount is None  # AMOUNT_REQ "UNKNOWN"


def test_events_out_of_time_order_are_applied_in_time_order(engine: SalesEngine) -> None:
    # In the file, trace 1001 has A_ACCEPTED before the earlier A_PREACCEPTED.
    import_xes(engine, SMALL)
    deal = engine.load("bpi2012-1001")
    moves = [
        (type(e).__name__, getattr(e, "to_stage", getattr(e, "stage", None)), e.effective_at)
        for e in deal.timeline
        if e.moves_stage
    ]
    assert [(name, to) for name, to, _ in moves] == [
        ("Opened", "submitted"),
        ("StageAdvanced", "partly_submitted"),
        ("StageAdvanced", "preaccepted"),
        ("StageAdvanced", "accepted"),
        ("Won", None),
    ]
    assert [at for _, _, at in moves] == sorted(at for _, _, at in moves)
    # Submitted and partly submitted share one instant; the DST change lies between them
    # and the pre-acceptance (2011-10-30T02:30+01:00 is 01:30 UTC).
    assert moves[0][2] == moves[1][2] == datetime(2011, 10, 29, 21, 0, tzinfo=UTC)
    assert moves[2][2] == datetime(2011, 10, 30, 1, 30, tzinfo=UTC)


def test_the_first_approval_wins_and_the_others_become_facts(engine: SalesEngine) -> None:
    import_xes(engine, SMALL)
    state = engine.load("bpi2012-1001").state
    assert state.status == "won"
    assert dict(state.facts) == {"registered": True, "activated": True}
    assert (state.visits, state.effective_visits) == (2, 0)  # O_SENT and a W_ work item
    assert (state.owner, state.amount, state.currency) == ("112", Decimal(15000), "EUR")


def test_events_that_make_no_command_are_skipped_with_the_reason(engine: SalesEngine) -> None:
    report = import_xes(engine, SMALL)
    assert [(p.where, p.message) for p in report.skipped] == [
        ("trace 1001, event 3", "SCHEDULE lifecycle: only COMPLETE events make commands"),
        ("trace 1001, event 11", "no mapping for activity 'X_ARCHIVED'"),
        ("trace 1002, event 4", "A_PREACCEPTED: the deal is already lost; no stage moves after it"),
    ]


def test_events_without_a_usable_time_are_refused_and_without_an_activity_skipped(
    engine: SalesEngine,
) -> None:
    report = import_xes(engine, DATA / "xes-times.xes")
    at = "attribute time:timestamp"
    assert [(p.where, p.message) for p in report.refused] == [
        (
            "trace 2001, attribute AMOUNT_REQ",
            "field 'amount': Input should be greater than or equal to 0 (given: '-10')",
        ),
        (
            f"trace 2001, event 2, {at}",
            "field 'at': missing: the event has no 'time:timestamp' attribute",
        ),
        (
            f"trace 2001, event 3, {at}",
            "field 'at': Input should have timezone info (given: '2011-10-01T10:00:00')",
        ),
        (
            f"trace 2001, event 4, {at}",
            "field 'at': Value error, must be ISO 8601 (YYYY-MM-DD, or with a time and offset) "
            "(given: 'yesterday')",
        ),
    ]
    assert [(p.where, p.message) for p in report.skipped] == [
        ("trace 2001, event 6", "no activity ('concept:name')"),
    ]
    assert (report.imported_rows, report.refused_rows, report.skipped_rows) == (1, 4, 1)
    state = engine.load("bpi2012-2001").state
    # "complete" in lower case, or no lifecycle at all, counts as COMPLETE.
    assert (state.stage, state.visits) == ("submitted", 1)
    assert state.amount is None  # AMOUNT_REQ "-10" is no amount
    assert state.last_visit_at == datetime(2011, 10, 2, 7, 0, 0, 250000, tzinfo=UTC)


def test_reimporting_a_small_log_reports_every_command_as_already_applied(
    engine: SalesEngine,
) -> None:
    first = import_xes(engine, SMALL)
    again = import_xes(engine, SMALL)
    assert (again.applied, again.duplicates, len(again.refused)) == (0, first.applied, 1)
    assert (again.imported_rows, again.unchanged_rows) == (0, first.imported_rows)


def test_a_gzip_compressed_copy_imports_the_same_as_the_plain_file(
    engine: SalesEngine, tmp_path: Path
) -> None:
    packed = tmp_path / "small.xes.gz"
    packed.write_bytes(gzip.compress(SMALL.read_bytes()))
    plain = [i.command if isinstance(i, SourceCommand) else i for i in read(SMALL, "bpi2012", None)]
    assert [
        i.command if isinstance(i, SourceCommand) else i for i in read(packed, "bpi2012", None)
    ] == plain
    assert import_xes(engine, packed).applied == 16


def test_the_policy_option_overrides_the_policy_the_mapping_names() -> None:
    opened = next(i for i in read(SMALL, "bpi2012", "another") if isinstance(i, SourceCommand))
    assert opened.command["cmd"] == "open"
    assert opened.command["policy"] == "another"


# ------------------------------------------------------------------ broken input


def assert_refused_whole(
    engine: SalesEngine, path: Path, *expected: str, mapping: str = "bpi2012"
) -> None:
    with pytest.raises(SourceError) as caught:
        import_xes(engine, path, mapping)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    for part in expected:
        assert part in message
    assert list(engine.deal_keys()) == []


def test_a_truncated_gzip_log_is_refused_before_anything_is_written(
    engine: SalesEngine, tmp_path: Path
) -> None:
    packed = gzip.compress(SMALL.read_bytes())
    broken = tmp_path / "broken.xes.gz"
    broken.write_bytes(packed[: len(packed) * 3 // 4])
    assert_refused_whole(engine, broken, "line ", "gzip stream", "breaks off")


def test_a_plain_log_that_breaks_off_names_the_line_and_the_trace(engine: SalesEngine) -> None:
    # The first two traces are complete; without the check they would be written.
    assert_refused_whole(
        engine, DATA / "xes-truncated.xes", "line 122", "breaks off inside trace #3 (line 110)"
    )


def test_a_file_that_is_not_xml_is_refused_with_the_line(engine: SalesEngine) -> None:
    assert_refused_whole(engine, DATA / "xes-not-xml.xes", "line 1: ", "not well-formed XML")


def test_xml_that_is_not_an_xes_log_is_refused(engine: SalesEngine) -> None:
    assert_refused_whole(
        engine, DATA / "xes-not-a-log.xes", "line 2: ", "root element is <html>, not <log>"
    )


def test_a_trace_without_a_name_refuses_the_whole_log(engine: SalesEngine) -> None:
    assert_refused_whole(
        engine,
        DATA / "xes-no-trace-name.xes",
        "line 84: trace #2 (after trace 1001) has no name: no 'concept:name' attribute",
    )


def test_an_xes_log_cannot_be_imported_without_a_mapping(engine: SalesEngine) -> None:
    with pytest.raises(MappingError, match=r"xes-small\.xes: an XES log needs --mapping"):
        read(SMALL, None, None)


def bad_mapping(tmp_path: Path, text: str) -> str:
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("policy: bpi2012\npolcy: x\n", "field 'polcy': Extra inputs are not permitted"),
        ("policy: bpi2012\noutcomes: {A_DECLINED: lose}\n", "field 'outcomes'"),
        ("policy: bpi2012\nstages: {A_SUBMITTED: Submitted Stage}\n", "field 'stages'"),
        ("policy: bpi2012\nlifecycles: []\n", "field 'lifecycles'"),
        ("policy: bpi2012\ncurrency: euro\n", "field 'currency'"),
        ("format: csv\npolicy: bpi2012\n", "field 'format'"),
        ("stages: {A_SUBMITTED: submitted}\n", "field 'policy'"),
        (
            "policy: p\nstages: {A_DECLINED: lost_stage}\noutcomes: {A_DECLINED: lost}\n",
            "field 'outcomes': A_DECLINED also named under 'stages'",
        ),
    ],
)
def test_a_bad_mapping_names_the_file_and_the_field(
    tmp_path: Path, engine: SalesEngine, text: str, field: str
) -> None:
    mapping = bad_mapping(tmp_path, text)
    with pytest.raises(MappingError) as caught:
        import_xes(engine, SMALL, mapping)
    assert str(caught.value).startswith(f"{mapping}: ")
    assert field in str(caught.value)
    assert list(engine.deal_keys()) == []


def test_the_reader_yields_commands_with_their_place_in_the_log() -> None:
    items = list(read(SMALL, "bpi2012", None))
    assert sum(isinstance(i, Skipped) for i in items) == 3
    won = next(i for i in items if isinstance(i, SourceCommand) and i.command["cmd"] == "won")
    assert (won.where, won.source_id, won.row) == ("trace 1001, event 8", "1001/8", 8)
    assert won.provenance == {"trace": "1001", "event": "8"}
    assert won.command["at"] == datetime.fromisoformat("2011-11-02T12:00:00+01:00")


def test_the_cli_imports_an_xes_log_with_the_shipped_mapping(tmp_path: Path) -> None:
    env = {**os.environ, "SALESENGINE_DB": str(tmp_path / "cli.db"), "SALESENGINE_ACTOR": "t"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "salesengine", "import", str(SMALL), *args],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    missing = run()
    assert missing.returncode == 2
    assert "needs --mapping" in missing.stderr
    done = run("--mapping", "bpi2012", "--json")
    assert done.returncode == 1, done.stderr  # trace 1003's amount is refused
    report = json.loads(done.stdout)
    assert (report["applied"], len(report["skipped"]), len(report["refused"])) == (16, 3, 1)


def test_the_cli_says_why_rows_were_skipped_a_line_per_reason(tmp_path: Path) -> None:
    env = {**os.environ, "SALESENGINE_DB": str(tmp_path / "cli.db"), "SALESENGINE_ACTOR": "t"}
    done = subprocess.run(
        [sys.executable, "-m", "salesengine", "import", str(SMALL), "--mapping", "bpi2012"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr  # trace 1003's amount is refused
    skipped = [line for line in done.stderr.splitlines() if ": skipped " in line]
    assert [line.rsplit(" (", 1)[0] for line in skipped] == [
        f"{SMALL}: skipped 1: SCHEDULE lifecycle: only COMPLETE events make commands",
        f"{SMALL}: skipped 1: no mapping for activity 'X_ARCHIVED'",
        f"{SMALL}: skipped 1: A_PREACCEPTED: the deal is already lost; no stage moves after it",
    ]
    assert all(re.search(r" \(trace \w+, event \d+\)$", line) for line in skipped), skipped
    assert "3 skipped" in done.stdout


def test_the_skip_summary_counts_each_reason_and_folds_the_rarest() -> None:
    from salesengine.cli.import_command import skip_summary

    reasons = ["late"] * 4 + ["early"] * 9 + [f"odd {n}" for n in range(6)]
    problems = [Problem(f"line {n}", reason, n) for n, reason in enumerate(reasons)]
    assert skip_summary(problems) == [
        "skipped 9: early (line 4; line 5; 7 more)",
        "skipped 4: late (line 0; line 1; 2 more)",
        "skipped 1: odd 0 (line 13)",
        "skipped 1: odd 1 (line 14)",
        "skipped 1: odd 2 (line 15)",
        "skipped 3 more, for 3 other reasons (--json lists every row)",
    ]
    assert skip_summary(problems[3:6]) == [
        "skipped 2: early (line 4; line 5)",
        "skipped 1: late (line 3)",
    ]
    assert skip_summary([]) == []


TWICE = """<?xml version="1.0" encoding="UTF-8" ?>
<log xes.version="1.0" xmlns="http://www.xes-standard.org/">
  <trace><string key="concept:name" value="T3"/><string key="AMOUNT_REQ" value="5000"/>
    <event><string key="concept:name" value="A_SUBMITTED"/>
      <string key="lifecycle:transition" value="COMPLETE"/>
      <date key="time:timestamp" value="2011-10-01T10:00:00.000+02:00"/></event>
  </trace>
  <trace><string key="concept:name" value="E2"/></trace>
  <trace><string key="concept:name" value="T3"/>
    <event><string key="concept:name" value="A_SUBMITTED"/>
      <string key="lifecycle:transition" value="COMPLETE"/>
      <date key="time:timestamp" value="2011-10-02T10:00:00.000+02:00"/></event>
    <event><string key="concept:name" value="A_DECLINED"/>
      <string key="lifecycle:transition" value="COMPLETE"/>
      <date key="time:timestamp" value="2011-10-03T10:00:00.000+02:00"/></event>
  </trace>
</log>
"""


def test_a_second_trace_of_one_name_is_refused_whole_and_an_empty_trace_is_skipped(
    engine: SalesEngine, tmp_path: Path
) -> None:
    log = tmp_path / "twice.xes"
    log.write_text(TWICE, encoding="utf-8")
    report = import_xes(engine, log)
    assert [(p.where, p.message) for p in report.refused] == [
        (
            f"trace T3, event {n}",
            "another trace named 'T3' came first (row 1); this trace is not imported",
        )
        for n in (1, 2)
    ]
    assert [(p.where, p.message) for p in report.skipped] == [
        ("trace E2", "the trace has no events")
    ]
    state = engine.load("bpi2012-T3").state
    assert (state.status, state.amount) == ("open", Decimal(5000))
