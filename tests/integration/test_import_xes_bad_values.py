"""Bad values in an XES log are refused where they stand: a trace's amount on its own
(the deal still opens), an event's time with its event, and the whole trace when the
refused time could be the deal's opening. Every refusal names its place and quotes the
value as the file writes it; workers report the same as one process."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.cli.worker_engines import EngineSpec
from salesengine.importing.common.errors import SourceError
from salesengine.importing.common.items import Rejected, SourceCommand
from salesengine.importing.parallel import import_source_parallel
from salesengine.importing.sources import SourceReport, import_source
from salesengine.importing.xes import read
from salesengine.importing.xes_traces import _INSTANT, _instant
from tests.support.cli_runner import run_cli
from tests.support.data import TEST_DATA

BAD = TEST_DATA / "xes-bad-values.xes"
AT = "attribute time:timestamp"
UNKNOWN_OPENING = (
    "the deal's opening is unknown: the time of event {}, which may open it, is refused; "
    "this trace is not imported"
)
# Every refusal of xes-bad-values.xes, in the log's order.
REFUSED = [
    (
        "trace A1, attribute AMOUNT_REQ",
        "field 'amount': Decimal input should have no more than 4 decimal places "
        "(given: '1500.12345')",
    ),
    (
        "trace A2, attribute AMOUNT_REQ",
        "field 'amount': Decimal input should have no more than 18 digits in total "
        "(given: '99999999999999999999')",
    ),
    (
        "trace A3, attribute AMOUNT_REQ",
        "field 'amount': Decimal input should have no more than 18 digits in total "
        "(given: '1e400')",
    ),
    (
        f"trace T1, event 1, {AT}",
        "field 'at': Input should have timezone info (given: '2011-10-01')",
    ),
    (
        f"trace T2, event 1, {AT}",
        "field 'at': Value error, must be ISO 8601 (YYYY-MM-DD, or with a time and offset) "
        "(given: 'garbage')",
    ),
    ("trace T2, event 2", UNKNOWN_OPENING.format(1)),
    ("trace T3, event 1", UNKNOWN_OPENING.format(2)),
    (
        f"trace T3, event 2, {AT}",
        "field 'at': missing: the event has no 'time:timestamp' attribute",
    ),
    ("trace T3, event 3", UNKNOWN_OPENING.format(2)),
    (
        f"trace T4, event 2, {AT}",
        "field 'at': Input should have timezone info (given: '2011-10-05T10:05:00')",
    ),
]


def import_xes(engine: SalesEngine, path: Path) -> SourceReport:
    return import_source(engine, path, "xes", read(path, "bpi2012", None))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[SalesEngine]:
    engine = build_engine(str(tmp_path / "events.db"), actor="importer")
    yield engine
    engine.close()


@pytest.fixture
def report(engine: SalesEngine) -> SourceReport:
    return import_xes(engine, BAD)


def refusals(report: SourceReport) -> list[tuple[str, str]]:
    return [(p.where, p.message) for p in report.refused]


def test_every_bad_value_is_refused_once_with_its_place_and_the_value_as_written(
    report: SourceReport,
) -> None:
    assert refusals(report) == REFUSED
    assert (report.rows, report.commands, report.applied) == (16, 12, 9)
    assert (report.imported_rows, report.refused_rows, report.skipped_rows) == (6, 10, 0)
    assert report.skipped == []


def test_an_amount_the_command_language_refuses_leaves_the_deal_open_without_one(
    engine: SalesEngine, report: SourceReport
) -> None:
    assert not any("unknown deal" in p.message for p in report.refused)
    states = {key: engine.load(f"bpi2012-{key}").state for key in ("A1", "A2", "A3", "A4")}
    assert [states[key].amount for key in ("A1", "A2", "A3")] == [None, None, None]
    # The rest of the trace still applies.
    assert (states["A1"].status, states["A1"].outcome_reason) == ("lost", "A_DECLINED")
    assert states["A3"].stage == "partly_submitted"
    assert (states["A4"].amount, states["A4"].currency) == (Decimal("1500.1234"), "EUR")


def test_a_trace_whose_opening_time_is_refused_opens_no_deal(
    engine: SalesEngine, report: SourceReport
) -> None:
    # T1's only event, T2's first event and T3's A_SUBMITTED (second in the file) have
    # no usable time: none of those deals opens at a later event's time instead.
    assert sorted(engine.deal_keys()) == [f"bpi2012-{k}" for k in ("A1", "A2", "A3", "A4", "T4")]


def test_a_later_event_without_a_usable_time_is_refused_alone(
    engine: SalesEngine, report: SourceReport
) -> None:
    assert [where for where, _ in refusals(report) if "T4" in where] == [f"trace T4, event 2, {AT}"]
    state = engine.load("bpi2012-T4").state
    assert (state.status, state.stage) == ("open", "preaccepted")
    moves = [e for e in engine.load("bpi2012-T4").timeline if e.moves_stage]
    assert [type(e).__name__ for e in moves] == ["Opened", "StageAdvanced"]


def one_trace(name: str, *times: str) -> str:
    events = "".join(
        f'<event><string key="concept:name" value="{activity}"/>'
        f'<date key="time:timestamp" value="{at}"/></event>'
        for activity, at in zip(("A_SUBMITTED", "A_PARTLYSUBMITTED"), times, strict=False)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" ?>\n<log xes.version="1.0">'
        f'<trace><string key="concept:name" value="{name}"/>{events}</trace></log>\n'
    )


def test_the_reader_refuses_an_untimed_opening_event_rather_than_skipping_it(
    tmp_path: Path,
) -> None:
    # Once only skipped, with no trace or event named, and the import exited 0.
    log = tmp_path / "day.xes"
    log.write_text(one_trace("T1", "2011-10-01"), encoding="utf-8")
    assert list(read(log, "bpi2012", None)) == [
        Rejected(
            f"trace T1, event 1, {AT}",
            "field 'at': Input should have timezone info (given: '2011-10-01')",
            1,
        )
    ]


def test_a_time_outside_the_engines_years_is_refused_as_the_command_language_would(
    tmp_path: Path,
) -> None:
    log = tmp_path / "old.xes"
    log.write_text(
        one_trace("Y1", "2011-10-01T10:00:00.000+02:00", "1800-01-01T10:00:00.000+02:00"),
        encoding="utf-8",
    )
    refused = [i for i in read(log, "bpi2012", None) if isinstance(i, Rejected)]
    assert [(i.where, i.reason, i.row) for i in refused] == [
        (
            f"trace Y1, event 2, {AT}",
            "field 'at': Value error, must fall between 1900-01-01 and 8999-12-31 (UTC) "
            "(given: '1800-01-01T10:00:00.000+02:00')",
            2,
        )
    ]


def test_a_valid_amount_goes_on_the_opening_itself() -> None:
    items = [i for i in read(BAD, "bpi2012", None) if isinstance(i, SourceCommand)]
    opening = next(i for i in items if i.where == "trace A4, event 1")
    assert (opening.command["cmd"], opening.command["amount"]) == ("open", "1500.1234")
    bad = next(i for i in items if i.where == "trace A3, attribute AMOUNT_REQ")
    assert (bad.command["amount"], bad.alone) == ("1e400", True)  # as the file writes it


# ------------------------------------------------------------------ workers and CLI


def comparable(report: SourceReport) -> dict[str, Any]:
    counts = ("rows", "commands", "applied", "imported_rows", "refused_rows", "skipped_rows")
    data: dict[str, Any] = {k: getattr(report, k) for k in counts}
    data["refused"] = [(p.row, p.where, p.message) for p in report.refused]
    return data


@pytest.mark.parametrize("comment", [False, True], ids=["by-place", "by-name"])
def test_workers_refuse_the_same_values_as_one_process(tmp_path: Path, comment: bool) -> None:
    log = BAD
    if comment:  # a comment among the traces rules out a split by place
        text = BAD.read_text(encoding="utf-8")
        at = text.rindex("\t<trace>")
        log = tmp_path / "commented.xes"
        log.write_text(f"{text[:at]}\t<!-- reviewed -->\n{text[at:]}", encoding="utf-8")
    one = build_engine(str(tmp_path / "one.db"), actor="importer")
    try:
        single = import_xes(one, log)
    finally:
        one.close()
    build_engine(str(tmp_path / "two.db")).close()
    spec = EngineSpec(str(tmp_path / "two.db"), actor="importer")
    shared = import_source_parallel(spec, log, "xes", "bpi2012", None, workers=2)
    assert comparable(shared) == comparable(single)
    assert [(p.where, p.message) for p in shared.refused] == REFUSED


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_cli_prints_each_refusal_and_exits_1(tmp_path: Path, workers: str) -> None:
    done = run_cli(
        "import", str(BAD), "--mapping", "bpi2012", "--workers", workers, db=tmp_path / "cli.db"
    )
    assert done.returncode == 1, done.stderr
    refused = [line for line in done.stderr.splitlines() if ": refused: " in line]
    assert refused == [f"{BAD}: {where}: refused: {message}" for where, message in REFUSED]
    assert "6 imported, 0 already imported, 10 refused, 0 skipped" in done.stdout


# ------------------------------------------------------------------ trace names

BLANK_NAME = """<?xml version="1.0" encoding="UTF-8" ?>
<log xes.version="1.0" xmlns="http://www.xes-standard.org/">
  <trace><string key="concept:name" value="B1"/>
    <event><string key="concept:name" value="A_SUBMITTED"/>
      <date key="time:timestamp" value="2011-10-01T10:00:00.000+02:00"/></event>
  </trace>
  <trace><string key="concept:name" value="  "/>
    <event><string key="concept:name" value="A_SUBMITTED"/>
      <date key="time:timestamp" value="2011-10-01T10:00:00.000+02:00"/></event>
  </trace>
</log>
"""


def test_a_trace_with_a_blank_name_refuses_the_log_saying_the_name_is_blank(
    engine: SalesEngine, tmp_path: Path
) -> None:
    log = tmp_path / "blank.xes"
    log.write_text(BLANK_NAME, encoding="utf-8")
    with pytest.raises(SourceError) as raised:
        import_xes(engine, log)
    assert str(raised.value) == (
        f"{log}: line 7: trace #2 (after trace B1) has no name: "
        "its 'concept:name' attribute is blank"
    )
    assert list(engine.deal_keys()) == []


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1899, 12, 30), max_value=datetime(9000, 1, 2), timezones=st.timezones()
    ),
    spec=st.sampled_from(["seconds", "milliseconds", "microseconds"]),
    zulu=st.booleans(),
)
def test_the_readers_direct_reading_of_a_time_agrees_with_the_command_language(
    moment: datetime, spec: str, zulu: bool
) -> None:
    try:
        text = moment.isoformat(timespec=spec)
    except OverflowError:  # no text for an offset past year 1 or 9999
        return
    if zulu and moment.utcoffset() == timedelta(0):
        text = text.removesuffix("+00:00") + "Z"
    try:
        expected: datetime | None = _INSTANT.validate_python(text)
    except ValidationError:
        expected = None
    got = _instant(text, "time:timestamp")
    if expected is None:
        assert isinstance(got, str) and got.startswith("field 'at': "), got
    else:
        assert isinstance(got, datetime)
        assert got == expected and got.utcoffset() == timedelta(0)
