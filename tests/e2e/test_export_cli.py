"""End to end: ``salesengine export`` as an auditor or a BI analyst runs it."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.support.cli_runner import CLI, write_jsonl

NOW = datetime.now(UTC).replace(microsecond=0)
T = NOW - timedelta(days=10)
XES = "{http://www.xes-standard.org/}"


def iso(days: float) -> str:
    return (T + timedelta(days=days)).isoformat()


@pytest.fixture
def seeded(cli: CLI, tmp_path: Path) -> CLI:
    """Two deals: one opened, visited and lost; one opened and advanced a day later."""
    lines = [
        {"cmd": "open", "deal": "A-1", "policy": "funnel-list", "at": iso(0), "by": "Li Wei"},
        {"cmd": "visit", "deal": "A-1", "effective": True, "at": iso(1)},
        {"cmd": "lost", "deal": "A-1", "reason": "price", "at": iso(2)},
        {"cmd": "open", "deal": "B-2", "policy": "funnel-list", "at": iso(3), "amount": "5000"},
    ]
    result = cli("import", str(write_jsonl(tmp_path / "deals.jsonl", lines)))
    assert result.code == 0, result.err
    return cli


def test_an_xes_export_writes_one_trace_per_deal_and_says_what_it_wrote(
    seeded: CLI, tmp_path: Path
) -> None:
    result = seeded("export", "audit.xes")
    assert result.code == 0, result.err
    assert "exported 2 deals, 4 events" in result.out
    assert "audit.xes" in result.out
    traces = ET.parse(tmp_path / "audit.xes").getroot().findall(f"{XES}trace")
    assert [len(t.findall(f"{XES}event")) for t in traces] == [3, 1]


def test_as_of_limits_a_csv_export_to_the_events_effective_by_then(
    seeded: CLI, tmp_path: Path
) -> None:
    result = seeded("export", "bi", "--format", "csv", "--as-of", iso(1.5))
    assert result.code == 0, result.err
    assert "exported 1 deals, 2 events, 1 stage intervals" in result.out
    with (tmp_path / "bi" / "events.csv").open(encoding="utf-8", newline="") as f:
        assert [(r["deal"], r["type"]) for r in csv.DictReader(f)] == [
            ("A-1", "Opened"),
            ("A-1", "VisitLogged"),
        ]


def test_a_parquet_export_writes_both_tables(seeded: CLI, tmp_path: Path) -> None:
    result = seeded("export", "bi", "--format", "parquet")
    assert result.code == 0, result.err
    assert pq.read_table(tmp_path / "bi" / "events.parquet").num_rows == 4
    intervals = pq.read_table(tmp_path / "bi" / "stage_intervals.parquet").to_pylist()
    assert [(r["deal"], r["stage"]) for r in intervals] == [
        ("A-1", "opportunity"),
        ("A-1", "lost"),
        ("B-2", "opportunity"),
    ]


@pytest.mark.parametrize("option", ["--as-of", "--known-at"])
def test_a_bad_time_is_refused_with_status_2_and_nothing_is_written(
    seeded: CLI, tmp_path: Path, option: str
) -> None:
    result = seeded("export", "audit.xes", option, "2026-03-31T18:00:00")
    assert result.code == 2
    assert option in result.err
    assert "offset" in result.err
    assert not (tmp_path / "audit.xes").exists()
    assert not [p for p in tmp_path.iterdir() if "audit" in p.name]


def test_an_unknown_format_is_named_and_refused(seeded: CLI, tmp_path: Path) -> None:
    result = seeded("export", "out.json", "--format", "json")
    assert result.code == 2
    assert "'json' is not one of xes, csv, parquet" in result.err
    assert not (tmp_path / "out.json").exists()


def test_an_output_that_cannot_be_written_is_named_and_refused(seeded: CLI, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file", encoding="utf-8")
    missing = seeded("export", "no/such/dir/audit.xes")
    assert missing.code == 2
    assert "no/such/dir does not exist" in missing.err
    not_a_directory = seeded("export", "taken", "--format", "csv")
    assert not_a_directory.code == 2
    assert "taken: is a file" in not_a_directory.err
    assert (tmp_path / "taken").read_text(encoding="utf-8") == "a file"


def test_a_pipe_is_left_alone_and_a_link_keeps_pointing_at_the_export(
    seeded: CLI, tmp_path: Path
) -> None:
    import os

    pipe = tmp_path / "pipe.xes"
    os.mkfifo(pipe)
    refused = seeded("export", str(pipe))
    assert refused.code == 2
    assert "is not a regular file" in refused.err
    assert pipe.is_fifo()

    target = tmp_path / "real.xes"
    link = tmp_path / "link.xes"
    link.symlink_to(target)
    done = seeded("export", str(link))
    assert done.code == 0, done.err
    assert link.is_symlink() and target.is_file()
    assert ET.parse(target).getroot().tag == f"{XES}log"


def test_an_export_from_a_store_that_is_not_there_is_refused_and_creates_none(
    cli: CLI, tmp_path: Path
) -> None:
    typo = tmp_path / "typo.db"
    result = cli("export", str(tmp_path / "audit.xes"), env={"SALESENGINE_DB": str(typo)})
    assert result.code == 2
    assert f"no event store at {typo}" in result.err
    assert not typo.exists() and not (tmp_path / "audit.xes").exists()


def test_an_xes_export_to_dash_goes_to_standard_output_byte_for_byte(
    seeded: CLI, tmp_path: Path
) -> None:
    instants = ("--as-of", iso(5), "--known-at", (NOW + timedelta(days=1)).isoformat())
    to_file = seeded("export", "audit.xes", *instants)
    assert to_file.code == 0, to_file.err
    piped = seeded("export", "-", *instants)
    assert piped.code == 0, piped.err
    assert piped.out == (tmp_path / "audit.xes").read_text(encoding="utf-8")
    assert "exported 2 deals, 4 events" in piped.err  # the summary stays off the log
    assert not (tmp_path / "-").exists()


def test_a_table_export_to_dash_is_refused_and_writes_nothing(seeded: CLI, tmp_path: Path) -> None:
    for fmt in ("csv", "parquet"):
        result = seeded("export", "-", "--format", fmt)
        assert result.code == 2
        assert "standard output takes one file" in result.err
        assert result.out == ""
        assert not (tmp_path / "-").exists()


def test_a_reader_that_stops_early_ends_an_export_to_dash_quietly(cli: CLI, tmp_path: Path) -> None:
    # About a megabyte of XES: far more than a pipe holds, so the writer meets the end.
    opens = [
        {"cmd": "open", "deal": f"D-{n}", "policy": "funnel-list", "at": iso(0)}
        for n in range(2000)
    ]
    imported = cli("import", str(write_jsonl(tmp_path / "many.jsonl", opens)))
    assert imported.code == 0, imported.err
    command = f"{sys.executable} -m salesengine export - | head -c 10"
    shell = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        check=False,
        capture_output=True,
        env={**os.environ, "SALESENGINE_DB": str(tmp_path / "store.db")},
        cwd=tmp_path,
        timeout=120,
    )
    # What was read arrives; the writer stops as if by SIGPIPE, with nothing on stderr.
    assert shell.stdout == b"<?xml vers"
    assert shell.returncode == 141
    assert b"Traceback" not in shell.stderr and b"error" not in shell.stderr


def test_a_file_named_dash_is_written_when_named_as_a_path(seeded: CLI, tmp_path: Path) -> None:
    result = seeded("export", "./-", "--format", "xes")  # a name without suffix says none
    assert result.code == 0, result.err
    assert ET.parse(tmp_path / "-").getroot().tag == f"{XES}log"


@pytest.mark.parametrize(
    ("output", "written"),
    [
        ("audit.xes", "audit.xes"),
        ("audit.XES.gz", "audit.XES.gz"),
        ("bi.csv", "bi.csv/events.csv"),
        ("bi.parquet", "bi.parquet/events.parquet"),
    ],
)
def test_the_suffix_chooses_the_format_when_none_is_given(
    seeded: CLI, tmp_path: Path, output: str, written: str
) -> None:
    result = seeded("export", output)
    assert result.code == 0, result.err
    path = tmp_path / written
    if written.endswith(".parquet"):
        assert pq.read_table(path).num_rows == 4
        assert (path.parent / "stage_intervals.parquet").is_file()
    elif written.endswith(".csv"):
        with path.open(encoding="utf-8", newline="") as f:
            assert len(list(csv.DictReader(f))) == 4
    elif written.endswith(".gz"):
        import gzip

        with gzip.open(path) as f:
            assert ET.parse(f).getroot().tag == f"{XES}log"
    else:
        assert ET.parse(path).getroot().tag == f"{XES}log"


@pytest.mark.parametrize(
    ("output", "fmt", "named"),
    [
        ("x.parquet", "xes", "parquet"),
        ("x.xes", "csv", "xes"),
        ("x.xes.gz", "parquet", "xes"),
        ("x.csv", "parquet", "csv"),
        ("x.parquet", "csv", "parquet"),
    ],
)
def test_a_suffix_that_contradicts_the_format_is_refused_naming_both(
    seeded: CLI, tmp_path: Path, output: str, fmt: str, named: str
) -> None:
    before = set(tmp_path.iterdir())
    result = seeded("export", output, "--format", fmt)
    assert result.code == 2, result
    assert f"the name says {named}, --format says {fmt}" in result.err
    assert set(tmp_path.iterdir()) == before


@pytest.mark.parametrize("output", ["audit", "audit.json", "bi/"])
def test_a_name_that_says_no_format_asks_for_one_and_writes_nothing(
    seeded: CLI, tmp_path: Path, output: str
) -> None:
    before = set(tmp_path.iterdir())
    result = seeded("export", output)
    assert result.code == 2, result
    assert "--format" in result.err
    assert set(tmp_path.iterdir()) == before
