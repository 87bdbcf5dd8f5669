"""An XES import shared among worker processes reads as the same import done in one:
the same deals, events, report and order of problems; a broken file still writes nothing."""

from __future__ import annotations

import gzip
import json
import subprocess
from collections import defaultdict
from pathlib import Path
from types import GeneratorType
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.cli.worker_engines import EngineSpec
from salesengine.importing import xes
from salesengine.importing.common.errors import SourceError
from salesengine.importing.common.file_size import estimated_rows
from salesengine.importing.common.items import Noted, SourceCommand, SourceItem
from salesengine.importing.common.sharing import Share
from salesengine.importing.parallel import import_source_parallel
from salesengine.importing.sources import SourceReport, import_source
from tests.support.cli_runner import run_cli
from tests.support.data import BPI_LOG, TEST_DATA, shared_data

DATA = TEST_DATA
SMALL = DATA / "xes-small.xes"


def single(db: Path, path: Path) -> SourceReport:
    engine = build_engine(str(db), actor="importer")
    try:
        return import_source(engine, path, "xes", xes.read(path, "bpi2012", None))
    finally:
        engine.close()


def shared(db: Path, path: Path, workers: int) -> SourceReport:
    build_engine(str(db)).close()  # the store exists before the workers open it
    spec = EngineSpec(str(db), actor="importer")
    return import_source_parallel(spec, path, "xes", "bpi2012", None, workers=workers)


def streams(db: Path) -> dict[UUID | str, list[tuple[int, str, dict[str, Any]]]]:
    """Each deal's stored events: version, topic and state without the recording time,
    as read (personal values are sealed under each store's own keys, with fresh nonces:
    the stored bytes differ, what they say must not)."""
    engine = build_engine(str(db))
    try:
        found: dict[UUID | str, list[tuple[int, str, dict[str, Any]]]] = defaultdict(list)
        start = 1
        while page := engine.recorder.select_notifications(start, 10_000):
            for n in page:
                state = dict(vars(engine.mapper.to_domain_event(n)))
                for name in ("timestamp", "originator_id", "originator_version"):
                    del state[name]
                found[n.originator_id].append((n.originator_version, n.topic, state))
            start = page[-1].id + 1
        return dict(found)
    finally:
        engine.close()


def comparable(report: SourceReport) -> dict[str, Any]:
    counts = ("rows", "commands", "applied", "duplicates", "imported_rows", "refused_rows")
    data = {k: getattr(report, k) for k in (*counts, "unchanged_rows", "skipped_rows")}
    data["skipped"] = [(p.row, p.where, p.message) for p in report.skipped]
    data["refused"] = [(p.row, p.where, p.message) for p in report.refused]
    return data


def test_two_workers_import_the_bpi_log_exactly_as_one_process(tmp_path: Path) -> None:
    log = shared_data(BPI_LOG)
    one = single(tmp_path / "one.db", log)
    two = shared(tmp_path / "two.db", log, workers=2)
    assert two.applied == 164_506
    assert comparable(two) == comparable(one)
    assert [p.row for p in two.skipped] == sorted(p.row for p in two.skipped)
    assert streams(tmp_path / "two.db") == streams(tmp_path / "one.db")


def test_a_shared_import_of_a_small_log_matches_and_reimports_as_duplicates(
    tmp_path: Path,
) -> None:
    one = single(tmp_path / "one.db", SMALL)
    three = shared(tmp_path / "three.db", SMALL, workers=3)
    assert comparable(three) == comparable(one)
    assert streams(tmp_path / "three.db") == streams(tmp_path / "one.db")
    again = shared(tmp_path / "three.db", SMALL, workers=2)
    assert (again.applied, again.duplicates, len(again.refused)) == (0, one.applied, 1)


def test_a_log_that_cannot_be_split_by_place_is_shared_by_name_alike(tmp_path: Path) -> None:
    # A comment among the traces rules out a split by place: the workers meet, find a
    # part that declined, read the whole file by trace name and meet again.
    text = SMALL.read_text(encoding="utf-8")
    at = text.rindex("<trace>")
    commented = tmp_path / "commented.xes"
    commented.write_text(f"{text[:at]}<!-- reviewed -->\n\t{text[at:]}", encoding="utf-8")
    one = single(tmp_path / "one.db", commented)
    two = shared(tmp_path / "two.db", commented, workers=2)
    assert comparable(two) == comparable(one)
    assert streams(tmp_path / "two.db") == streams(tmp_path / "one.db")


def test_a_broken_log_shared_among_workers_writes_nothing(tmp_path: Path) -> None:
    packed = gzip.compress(SMALL.read_bytes())
    broken = tmp_path / "broken.xes.gz"
    broken.write_bytes(packed[: len(packed) * 3 // 4])
    db = tmp_path / "events.db"
    with pytest.raises(SourceError, match=r"gzip stream is damaged or breaks off"):
        shared(db, broken, workers=2)
    engine = build_engine(str(db))
    try:
        assert list(engine.deal_keys()) == []
    finally:
        engine.close()


def key(item: SourceItem) -> tuple[Any, ...]:
    if isinstance(item, SourceCommand):
        return ("command", item.row, item.where, item.source_id, sorted(item.command.items()))
    if isinstance(item, Noted):
        return ("noted", item.row, item.where, item.note)
    return ("skipped", item.row, item.where, item.reason)


@given(parts=st.integers(min_value=1, max_value=5))
@settings(max_examples=10, deadline=None)
def test_the_shares_of_a_log_are_disjoint_and_together_are_the_whole(parts: int) -> None:
    whole = [key(i) for i in xes.read(SMALL, "bpi2012", None)]
    pieces = [
        [key(i) for i in xes.read(SMALL, "bpi2012", None, share=Share(part, parts))]
        for part in range(parts)
    ]
    assert sorted(k for piece in pieces for k in piece) == sorted(whole)
    for piece in pieces:  # each share keeps the file's order
        assert piece == [k for k in whole if k in piece]


def test_a_log_too_large_to_hold_is_checked_whole_then_read_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    held = xes.read(SMALL, "bpi2012", None)
    monkeypatch.setattr(xes, "BUFFER_ITEMS", 4)
    streamed = xes.read(SMALL, "bpi2012", None)
    assert isinstance(streamed, GeneratorType)  # read again, not held
    assert [key(i) for i in streamed] == [key(i) for i in held]


def test_a_log_too_large_to_hold_is_still_refused_before_the_first_item(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(xes, "BUFFER_ITEMS", 4)  # the two complete traces hold more
    with pytest.raises(SourceError, match=r"breaks off inside trace #3"):
        xes.read(DATA / "xes-truncated.xes", "bpi2012", None)


def test_the_row_estimate_reads_the_unpacked_size_of_a_gzip_file(tmp_path: Path) -> None:
    packed = tmp_path / "log.xes.gz"
    packed.write_bytes(gzip.compress(SMALL.read_bytes()))
    assert estimated_rows(packed) == estimated_rows(SMALL) > 0


def test_the_row_estimate_of_the_bpi_log_is_near_its_262_200_events() -> None:
    assert 200_000 < estimated_rows(shared_data(BPI_LOG)) < 330_000


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("import", *args, db=tmp_path / "cli.db")


def test_the_cli_shares_an_xes_import_among_the_workers_asked_for(tmp_path: Path) -> None:
    done = cli(tmp_path, str(SMALL), "--mapping", "bpi2012", "--workers", "2", "--json")
    assert done.returncode == 1, done.stderr  # trace 1003's amount is refused
    report = json.loads(done.stdout)
    assert (report["applied"], len(report["skipped"]), len(report["refused"])) == (16, 3, 1)
    assert [p["row"] for p in report["skipped"]] == sorted(p["row"] for p in report["skipped"])


def test_the_cli_names_a_bad_mapping_found_by_the_workers(tmp_path: Path) -> None:
    done = cli(tmp_path, str(SMALL), "--mapping", "no-such-mapping", "--workers", "2")
    assert done.returncode == 2
    assert "no-such-mapping" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_cli_refuses_workers_for_a_format_read_in_one_process(tmp_path: Path) -> None:
    csv = tmp_path / "deals.csv"
    csv.write_text("opportunity_id\n")
    done = cli(tmp_path, str(csv), "--format", "csv", "--mapping", "maven", "--workers", "2")
    assert done.returncode == 2
    assert "--workers: a csv import runs in one process; use --workers 1" in done.stderr
    assert not (tmp_path / "cli.db").exists() or _no_deals(tmp_path / "cli.db")


def _no_deals(db: Path) -> bool:
    engine: SalesEngine = build_engine(str(db))
    try:
        return list(engine.deal_keys()) == []
    finally:
        engine.close()
