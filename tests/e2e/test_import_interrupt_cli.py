"""An import sent SIGINT mid-way stops between rows, says how many rows it committed and
that importing the same file again completes it; and importing again does just that.

The import runs as a real subprocess; the test waits until its first batch is in the
store, then interrupts it, as Ctrl-C would.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from salesengine.cli.interrupt import Interrupt
from tests.support.cli_runner import CLI

ROWS = 20_000
AGAIN = "importing the same file again completes it"


@dataclass(frozen=True)
class Source:
    name: str
    args: tuple[str, ...]  # after the file: format, mapping
    rows: int  # source rows of the file (events of an XES log)


def write_sources(folder: Path) -> dict[str, tuple[Path, Source]]:
    """A file of each format, of ROWS deals each."""
    jsonl = folder / "deals.jsonl"
    jsonl.write_text(
        "".join(
            json.dumps({"cmd": "open", "deal": f"D-{i}", "policy": "funnel-list",
                        "at": "2026-03-02T09:00:00+00:00"}) + "\n"
            for i in range(ROWS)
        ),
        encoding="utf-8",
    )  # fmt: skip
    csv = folder / "pipeline.csv"
    csv.write_text(
        "opportunity_id,sales_agent,deal_stage,engage_date\n"
        + "".join(f"O{i},Anna,Engaging,2017-01-02\n" for i in range(ROWS)),
        encoding="utf-8",
    )
    mapping = folder / "pipeline.yaml"
    mapping.write_text(
        "policy: maven\nid: opportunity_id\nstage: deal_stage\ncurrency: USD\nhistories:\n"
        "  Engaging:\n    - {cmd: open, at: engage_date}\n"
        "    - {cmd: advance, to: engaging, at: engage_date}\n"
        "attributes: {owner: sales_agent}\n",
        encoding="utf-8",
    )
    salesforce = folder / "OpportunityHistory.csv"
    salesforce.write_text(
        "Id,OpportunityId,CreatedById,CreatedDate,StageName,Amount,CloseDate,IsDeleted\n"
        + "".join(
            f"H{i:08d},OPP{i:08d},U1,2024-01-08T10:07:11.000+0000,Prospecting,50000.00,"
            "2024-04-30,false\n"
            for i in range(ROWS)
        ),
        encoding="utf-8",
    )
    event = (
        '<event><string key="lifecycle:transition" value="COMPLETE"/>'
        '<string key="concept:name" value="{0}"/>'
        '<date key="time:timestamp" value="2011-10-29T23:00:0{1}.000+02:00"/></event>'
    )
    traces = "".join(
        f'<trace><string key="concept:name" value="{i}"/>'
        + event.format("A_SUBMITTED", 0)
        + event.format("A_PARTLYSUBMITTED", 1)
        + "</trace>\n"
        for i in range(ROWS // 2)
    )
    xes = folder / "log.xes"
    xes.write_text(
        '<?xml version="1.0" encoding="UTF-8" ?>\n'
        f'<log xes.version="1.0" xmlns="http://www.xes-standard.org/">\n{traces}</log>\n',
        encoding="utf-8",
    )
    return {
        "jsonl": (jsonl, Source("jsonl", (), ROWS)),
        "csv": (csv, Source("csv", ("--format", "csv", "--mapping", str(mapping)), ROWS)),
        "salesforce": (salesforce, Source("salesforce", ("--format", "salesforce"), ROWS)),
        "xes": (xes, Source("xes", ("--mapping", "bpi2012"), ROWS)),
    }


def events_in(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=0.2) as conn:
            return int(conn.execute("SELECT count(*) FROM stored_events").fetchone()[0])
    except sqlite3.OperationalError:  # the table is not there yet, or a writer holds it
        return 0


def interrupted_import(tmp_path: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """``salesengine import ARGS``, sent SIGINT once its first batch is stored."""
    db = tmp_path / "store.db"
    env = {**os.environ, "SALESENGINE_DB": str(db), "SALESENGINE_ACTOR": "t", "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "salesengine", "import", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 120
    while events_in(db) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def committed(err: str) -> int:
    found = re.search(r"interrupted after ([\d,]+) ", err)
    assert found is not None, err
    return int(found.group(1).replace(",", ""))


CASES = [
    ("jsonl", 1),
    ("jsonl", 2),
    ("csv", 1),
    ("salesforce", 1),
    ("xes", 1),
    ("xes", 2),
]


@pytest.mark.parametrize(("fmt", "workers"), CASES, ids=[f"{f}-{w}" for f, w in CASES])
def test_an_interrupted_import_says_what_it_committed_and_importing_again_completes_it(
    cli: CLI, tmp_path: Path, fmt: str, workers: int
) -> None:
    path, source = write_sources(tmp_path)[fmt]
    args = [str(path), *source.args, "--workers", str(workers)]
    run = interrupted_import(tmp_path, args)
    assert run.returncode == 130, run.stderr
    assert AGAIN in run.stderr
    done = committed(run.stderr)
    assert 0 < done < source.rows, run.stderr
    assert "Traceback" not in run.stderr
    # Everything counted is in the store, and nothing more: importing again finds
    # exactly those rows there, and adds the rest.
    again = cli("import", *args)
    assert again.code == 0, again.err
    if fmt == "jsonl":
        assert f"{source.rows - done} applied, {done} already applied" in again.out
    else:
        assert f"rows: {source.rows - done} imported, {done} already imported" in again.out


def test_an_interrupted_import_reports_it_in_json(cli: CLI, tmp_path: Path) -> None:
    path, _ = write_sources(tmp_path)["jsonl"]
    run = interrupted_import(tmp_path, [str(path), "--json", "--workers", "1"])
    assert run.returncode == 130, run.stderr
    report = json.loads(run.stdout)
    assert report["interrupted"] is True
    assert report["lines"] == report["applied"] == committed(run.stderr)


def test_a_second_interrupt_stops_at_once() -> None:
    """The first signal asks for a stop between rows; the second does not wait for the
    batch in hand, it raises at once."""
    interrupt = Interrupt()
    interrupt.ask(signal.SIGINT, None)
    assert interrupt() and interrupt.exit_code == 130
    with pytest.raises(KeyboardInterrupt):
        interrupt.ask(signal.SIGINT, None)
