"""Exporting the event history: XES read back by pm4py, CSV and Parquet read back as tables."""

from __future__ import annotations

import csv
import gc
import gzip
import io
import json
import os
import signal
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from salesengine.application.engine import SalesEngine
from salesengine.application.results import HistoryEntry
from salesengine.cli.export import terminated_like_interrupted
from salesengine.domain.deal import DealEvent
from salesengine.exporting.tables import TableFormat, export_tables
from salesengine.exporting.xes import export_xes, write_xes
from salesengine.projections.base import from_us
from salesengine.projections.stage_fold import VIA, stage_rows
from tests.support.clock import T0, Clock
from tests.support.commands import cmd

with warnings.catch_warnings():
    # pm4py suggests an optional faster reader on import and on every read.
    warnings.simplefilter("ignore")
    import pm4py

pytestmark = pytest.mark.filterwarnings("ignore:Install the optional requirement:UserWarning")

DISCOVER_FACTS = dict.fromkeys(
    (
        "basic_customer_data",
        "it_landscape",
        "competing_vendors",
        "need_and_budget",
        "customer_project_team",
        "fits_target_profile",
    ),
    True,
)
NOTE = 'CIO said <yes> & "soon" — 华信'
# Recorded instants: the first phase is recorded at FIRST, the second a week later.
FIRST = Clock().now
SECOND = FIRST + timedelta(days=7)


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def build_store(engine: SalesEngine, clock: Clock) -> None:
    """Four deals: a regression, a win, a loss, visits, a deal opened late and events
    recorded a week after the rest, some of them backdated."""
    run = engine.execute
    run(
        cmd(
            deal="ACME-1",
            cmd="open",
            policy="seven-stage",
            at=h(0),
            by="Li Wei",
            owner="Li Wei",
            team="North",
            amount="1200000.5",
            account="华信钢铁",
            facts=DISCOVER_FACTS,
        )
    )
    run(cmd(deal="ACME-1", cmd="advance", to="discover", at=h(1), by="Li Wei"))
    run(cmd(deal="ACME-1", cmd="visit", effective=True, attendees=["王总"], note=NOTE, at=h(2)))
    run(cmd(deal="ACME-1", cmd="fact", name="intent_confirmed", value="yes", at=h(3)))
    run(cmd(deal="ACME-1", cmd="advance", to="intent", at=h(4)))
    run(cmd(deal="BETA-2", cmd="open", policy="seven-stage", at=h(1), facts=DISCOVER_FACTS))
    run(cmd(deal="BETA-2", cmd="advance", to="discover", at=h(5)))
    run(cmd(deal="GAMMA-3", cmd="open", policy="seven-stage", at=h(2), amount="80000"))
    run(cmd(deal="GAMMA-3", cmd="lost", reason="price", competitor="Rival", at=h(30)))
    clock.now = SECOND
    # A week later: a regression, a win, a backdated amount and visit, a late deal.
    run(cmd(deal="ACME-1", cmd="regress", to="discover", reason="budget frozen", at=h(48)))
    run(cmd(deal="ACME-1", cmd="amount", amount="900000", at=h(0.5)))
    run(cmd(deal="ACME-1", cmd="visit", effective=False, at=h(3.5), by="Wang Fang"))
    run(cmd(deal="BETA-2", cmd="won", at=h(72)))
    run(cmd(deal="DELTA-4", cmd="open", policy="seven-stage", at=h(100)))
    clock.tick(hours=1)


@pytest.fixture
def store(engine: SalesEngine, clock: Clock) -> SalesEngine:
    build_store(engine, clock)
    return engine


KEYS = ("ACME-1", "BETA-2", "GAMMA-3", "DELTA-4")
# (as of T, known at K): everything; before the late deal; before the second phase;
# as of an instant that cuts a deal's history in two.
VIEWS = [
    (None, None),
    (h(99), None),
    (None, FIRST + timedelta(minutes=1)),
    (h(3.75), SECOND + timedelta(minutes=1)),
]


def in_view(engine: SalesEngine, key: str, as_of: datetime, known_at: datetime) -> list[DealEvent]:
    """The deal's events effective by T and recorded by K, from the raw timeline."""
    return [
        e for e in engine.load(key).timeline if e.effective_at <= as_of and e.timestamp <= known_at
    ]


def instants(engine: SalesEngine, as_of: datetime | None, known_at: datetime | None) -> Any:
    now = engine.clock()
    return as_of or now, known_at or now


def histories(
    engine: SalesEngine, as_of: datetime, known_at: datetime
) -> Iterator[tuple[str, list[HistoryEntry]]]:
    for key in KEYS:
        entries = engine.history(key, as_of, known_at).events
        if entries:
            yield key, entries


def read_xes(path: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pm4py.read_xes(str(path))


# ------------------------------------------------------------------------------ XES


def test_an_xes_export_read_by_pm4py_has_each_deal_as_a_case_with_its_events_and_times(
    store: SalesEngine, tmp_path: Path
) -> None:
    as_of, known_at = instants(store, None, None)
    path = tmp_path / "deals.xes"
    summary = export_xes(store, path, as_of, known_at)
    log = read_xes(path)
    cases = dict(list(log.groupby("case:concept:name", sort=False)))
    assert set(cases) == set(KEYS)
    assert summary.deals == 4
    assert summary.events == len(log) == sum(len(store.load(k).timeline) for k in KEYS)
    for key in KEYS:
        timeline = store.load(key).timeline
        case = cases[key].sort_values("version", kind="stable")
        assert len(case) == len(timeline)
        by_version = sorted(timeline, key=lambda e: e.originator_version)
        assert [t.to_pydatetime() for t in case["time:timestamp"]] == [
            e.effective_at for e in by_version
        ]
        assert [t.to_pydatetime() for t in case["recorded_at"]] == [e.timestamp for e in by_version]
        assert list(case["org:resource"]) == [e.actor for e in by_version]
        assert set(case["lifecycle:transition"]) == {"complete"}


def test_xes_events_come_in_timeline_order_named_by_the_stage_entered_or_their_type(
    store: SalesEngine, tmp_path: Path
) -> None:
    path = tmp_path / "deals.xes"
    export_xes(store, path, *instants(store, None, None))
    ns = {"x": "http://www.xes-standard.org/"}
    traces = ET.parse(path).getroot().findall("x:trace", ns)
    names = {}
    for trace in traces:
        key = trace.find("x:string[@key='concept:name']", ns)
        assert key is not None
        names[key.get("value")] = [
            e.findall("x:string[@key='concept:name']", ns)[0].get("value")
            for e in trace.findall("x:event", ns)
        ]
    assert names["ACME-1"] == [
        "target",
        "AmountChanged",  # backdated to half an hour after the opening
        "discover",
        "VisitLogged",
        "FactRecorded",
        "VisitLogged",  # backdated between the fact and the advance
        "intent",
        "discover",  # the regression
    ]
    assert names["BETA-2"] == ["target", "discover", "won"]
    assert names["GAMMA-3"] == ["target", "lost"]
    assert names["DELTA-4"] == ["target"]


def test_xes_traces_carry_the_deal_attributes_as_of_t_known_at_k(
    store: SalesEngine, tmp_path: Path
) -> None:
    path = tmp_path / "deals.xes"
    export_xes(store, path, h(3.75), FIRST + timedelta(minutes=1))
    log = read_xes(path)
    acme = log[log["case:concept:name"] == "ACME-1"].iloc[0]
    # Known before the amount change was recorded, and before the advance to intent.
    assert acme["case:amount"] == pytest.approx(1200000.5)
    assert acme["case:stage"] == "discover"
    assert acme["case:owner"] == "Li Wei"
    assert acme["case:account"] == "华信钢铁"
    assert acme["case:policy"] == "seven-stage"


def test_a_gzipped_xes_export_reads_back_as_the_same_log(
    store: SalesEngine, tmp_path: Path
) -> None:
    as_of, known_at = instants(store, None, None)
    plain, packed = tmp_path / "deals.xes", tmp_path / "deals.xes.gz"
    export_xes(store, plain, as_of, known_at)
    export_xes(store, packed, as_of, known_at)
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()
    shouted = tmp_path / "DEALS.XES.GZ"  # the suffix is read whatever its case
    export_xes(store, shouted, as_of, known_at)
    assert gzip.decompress(shouted.read_bytes()) == plain.read_bytes()
    columns = ["case:concept:name", "concept:name", "time:timestamp", "version"]
    assert read_xes(packed)[columns].equals(read_xes(plain)[columns])


def test_xes_escapes_notes_and_keeps_every_data_field_readable(
    store: SalesEngine, tmp_path: Path
) -> None:
    path = tmp_path / "deals.xes"
    export_xes(store, path, *instants(store, None, None))
    ET.parse(path)  # well-formed XML
    log = read_xes(path)
    visits = log[(log["case:concept:name"] == "ACME-1") & (log["type"] == "VisitLogged")]
    assert list(visits["data_note"])[:1] == [NOTE]
    assert [json.loads(a) for a in visits["data_attendees"]] == [["王总"], []]
    assert list(visits["data_effective"]) == [True, False]
    lost = log[log["concept:name"] == "lost"].iloc[0]
    assert (lost["data_reason"], lost["data_competitor"]) == ("price", "Rival")


@pytest.mark.parametrize(("as_of", "known_at"), VIEWS)
def test_as_of_and_known_at_keep_exactly_the_events_effective_and_recorded_by_then(
    store: SalesEngine, tmp_path: Path, as_of: datetime | None, known_at: datetime | None
) -> None:
    t, k = instants(store, as_of, known_at)
    path = tmp_path / "deals.xes"
    summary = export_xes(store, path, t, k)
    log = read_xes(path)
    exported = {(c, int(v)) for c, v in zip(log["case:concept:name"], log["version"], strict=True)}
    expected = {(key, e.originator_version) for key in KEYS for e in in_view(store, key, t, k)}
    assert exported == expected
    everything = sum(len(store.load(key).timeline) for key in KEYS)
    assert (len(expected) == everything) == ((as_of, known_at) == (None, None))
    assert summary.events == len(expected)
    assert summary.deals == len({key for key, _ in expected})


# ----------------------------------------------------------------------- CSV, Parquet


def expected_cell(value: object) -> str:
    """How the tables render a value, written out independently of the exporter."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


@pytest.mark.parametrize(("as_of", "known_at"), VIEWS)
def test_a_csv_export_has_the_rows_the_history_service_gives(
    store: SalesEngine, tmp_path: Path, as_of: datetime | None, known_at: datetime | None
) -> None:
    t, k = instants(store, as_of, known_at)
    summary = export_tables(store, tmp_path / "out", "csv", t, k)
    with (tmp_path / "out" / "events.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    expected = [(key, entry) for key, entries in histories(store, t, k) for entry in entries]
    assert len(rows) == len(expected) == summary.events
    for row, (key, entry) in zip(rows, expected, strict=True):
        assert row["deal"] == key
        assert int(row["version"]) == entry.version
        assert int(row["position"]) == entry.position
        assert row["type"] == entry.type
        assert row["effective_at"] == entry.effective_at.isoformat()
        assert row["recorded_at"] == entry.recorded_at.isoformat()
        assert row["actor"] == entry.actor
        assert row["stage_before"] == (entry.stage_before or "")
        assert row["stage_after"] == entry.stage_after
        data = {
            name.removeprefix("data_"): v
            for name, v in row.items()
            if v and name.startswith("data_")
        }
        assert data == {
            name: expected_cell(value) for name, value in entry.data.items() if value is not None
        }


@pytest.mark.parametrize(("as_of", "known_at"), VIEWS)
def test_a_parquet_export_has_the_history_rows_with_typed_columns(
    store: SalesEngine, tmp_path: Path, as_of: datetime | None, known_at: datetime | None
) -> None:
    t, k = instants(store, as_of, known_at)
    export_tables(store, tmp_path / "out", "parquet", t, k)
    table = pq.read_table(tmp_path / "out" / "events.parquet")
    schema = table.schema
    assert schema.field("effective_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("data_amount").type == pa.decimal128(18, 4)
    assert schema.field("data_effective").type == pa.bool_()
    assert schema.field("position").type == pa.int64()
    rows = table.to_pylist()
    expected = [(key, entry) for key, entries in histories(store, t, k) for entry in entries]
    assert len(rows) == len(expected)
    for row, (key, entry) in zip(rows, expected, strict=True):
        assert (row["deal"], row["version"], row["position"]) == (
            key,
            entry.version,
            entry.position,
        )
        assert row["effective_at"] == entry.effective_at
        assert row["recorded_at"] == entry.recorded_at
        assert (row["type"], row["actor"]) == (entry.type, entry.actor)
        assert (row["stage_before"], row["stage_after"]) == (entry.stage_before, entry.stage_after)
        for name, value in entry.data.items():
            cell = row[f"data_{name}"]
            if isinstance(value, Decimal | bool | datetime | date) or value is None:
                assert cell == value, name
            else:
                assert cell == expected_cell(value), name


def interval(row: dict[str, Any]) -> tuple[object, ...]:
    return tuple(row[c] for c in ("deal", "policy", "stage", "via", "reason", "entered_version"))


@pytest.mark.parametrize(("as_of", "known_at"), VIEWS)
def test_stage_intervals_are_what_stage_rows_gives_for_each_deals_events_in_view(
    store: SalesEngine, tmp_path: Path, as_of: datetime | None, known_at: datetime | None
) -> None:
    t, k = instants(store, as_of, known_at)
    summary = export_tables(store, tmp_path / "pq", "parquet", t, k)
    export_tables(store, tmp_path / "csv", "csv", t, k)
    expected = []
    for key in KEYS:
        moves = [e for e in in_view(store, key, t, k) if type(e).__name__ in VIA]
        for policy, stage, via, reason, version, entered, exited in stage_rows(moves):
            assert isinstance(entered, int) and (exited is None or isinstance(exited, int))
            expected.append(
                (
                    (key, policy, stage, via, reason, version),
                    from_us(entered),
                    None if exited is None else from_us(exited),
                )
            )
    parquet = pq.read_table(tmp_path / "pq" / "stage_intervals.parquet").to_pylist()
    assert [(interval(r), r["entered_at"], r["exited_at"]) for r in parquet] == expected
    with (tmp_path / "csv" / "stage_intervals.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [
        (
            (r["deal"], r["policy"], r["stage"], r["via"], r["reason"] or None),
            r["entered_version"],
            r["entered_at"],
            r["exited_at"],
        )
        for r in rows
    ] == [
        (
            values[:5],
            str(values[5]),
            entered.isoformat(),
            "" if exited is None else exited.isoformat(),
        )
        for values, entered, exited in expected
    ]
    assert summary.intervals == len(expected) > 0


def test_an_interval_ending_after_t_is_still_open_as_of_t(
    store: SalesEngine, tmp_path: Path
) -> None:
    export_tables(store, tmp_path / "out", "parquet", h(40), store.clock())
    rows = pq.read_table(tmp_path / "out" / "stage_intervals.parquet").to_pylist()
    acme = [(r["stage"], r["exited_at"]) for r in rows if r["deal"] == "ACME-1"]
    assert acme == [("target", h(1)), ("discover", h(4)), ("intent", None)]


# ------------------------------------------------------------------------- failures


def failing_keys() -> Iterator[str]:
    yield "ACME-1"
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("name", ["deals.xes", "deals.xes.gz"])
def test_a_failed_xes_export_leaves_no_file_and_the_old_one_untouched(
    store: SalesEngine, tmp_path: Path, name: str
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    path = exports / name
    path.write_text("the previous export", encoding="utf-8")
    with pytest.raises(OSError, match="No space"):
        export_xes(store, path, *instants(store, None, None), keys=failing_keys())
    assert path.read_text(encoding="utf-8") == "the previous export"
    assert [p.name for p in exports.iterdir()] == [name]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_failed_table_export_leaves_no_half_files(
    store: SalesEngine, tmp_path: Path, fmt: TableFormat
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / f"events.{fmt}").write_text("the previous export", encoding="utf-8")
    with pytest.raises(OSError, match="No space"):
        export_tables(store, exports, fmt, *instants(store, None, None), keys=failing_keys())
    assert [p.name for p in exports.iterdir()] == [f"events.{fmt}"]
    assert (exports / f"events.{fmt}").read_text(encoding="utf-8") == "the previous export"
    with pytest.raises(OSError, match="No space"):
        export_tables(
            store, exports / "new", fmt, *instants(store, None, None), keys=failing_keys()
        )
    assert not (exports / "new").exists()


def terminated_keys(signum: int) -> Iterator[str]:
    yield "ACME-1"
    os.kill(os.getpid(), signum)  # as `kill`, a service manager or a closed terminal would
    yield "ACME-2"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("fmt", ["xes", "csv", "parquet"])
def test_an_export_ended_by_a_signal_leaves_no_part_written_file(
    store: SalesEngine, tmp_path: Path, fmt: Literal["xes", "csv", "parquet"], signum: int
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    before = signal.getsignal(signum)
    at = instants(store, None, None)
    export: Callable[[], object] = (
        partial(export_xes, store, exports / "deals.xes", *at, keys=terminated_keys(signum))
        if fmt == "xes"
        else partial(export_tables, store, exports, fmt, *at, keys=terminated_keys(signum))
    )
    with pytest.raises(SystemExit) as stopped, terminated_like_interrupted():
        export()
    assert stopped.value.code == 128 + signum
    assert list(exports.iterdir()) == []
    assert signal.getsignal(signum) == before  # the export's handler is gone with it


def test_an_export_of_an_empty_store_is_a_valid_empty_log(
    engine: SalesEngine, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    summary = export_xes(engine, tmp_path / "empty.xes", now, now)
    assert (summary.deals, summary.events) == (0, 0)
    root = ET.parse(tmp_path / "empty.xes").getroot()
    assert root.tag == "{http://www.xes-standard.org/}log"
    assert root.findall("{http://www.xes-standard.org/}trace") == []


def test_xes_onto_a_stream_is_the_file_export_and_leaves_the_stream_open(
    store: SalesEngine, tmp_path: Path
) -> None:
    as_of, known_at = instants(store, None, None)
    export_xes(store, tmp_path / "audit.xes", as_of, known_at)
    stream = io.BytesIO()
    summary = write_xes(store, stream, as_of, known_at)
    assert not stream.closed
    assert stream.getvalue() == (tmp_path / "audit.xes").read_bytes()
    assert summary.deals == len(list(store.deal_keys())) and summary.files == []


def test_a_failed_write_onto_a_stream_leaves_the_callers_stream_open(store: SalesEngine) -> None:
    class Full(io.BytesIO):
        def write(self, data: Any) -> int:
            raise OSError(28, f"No space left on device ({len(data)} bytes)")

    for packed in (False, True):
        stream = Full()
        with pytest.raises(OSError, match="No space"):
            write_xes(
                store, stream, T0 + timedelta(days=30), T0 + timedelta(days=31), packed=packed
            )
        gc.collect()  # a wrapper let go must not close the stream when it is collected
        assert not stream.closed
