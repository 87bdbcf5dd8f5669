"""Imports spread over worker processes read exactly as a single-process import."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from salesengine.application.engine import SalesEngine
from salesengine.bootstrap import build_engine
from salesengine.cli.worker_engines import EngineSpec
from salesengine.domain.errors import StoreUnavailable
from salesengine.importing.jsonl import ImportReport, import_file
from salesengine.importing.parallel import import_file_parallel
from tests.support.clock import T0

STAGES = ("p25", "p50", "p90")


def commands_file(path: Path, deals: int, *, seed: int = 7) -> Path:
    """Interleaved deal histories with the lines a real file also has: refused commands,
    broken JSON, blank lines, and one deal spelt two ways."""
    rng = random.Random(seed)
    timed: list[tuple[float, str]] = []
    for n in range(deals):
        key = f"D-{n:05d}"
        t = T0 + timedelta(minutes=rng.randint(0, 600))

        def add(cmd: str, key: str = key, **fields: Any) -> None:
            nonlocal t
            t += timedelta(minutes=rng.randint(1, 90))
            line = {"cmd": cmd, "deal": key, "at": t.isoformat(), **fields}
            timed.append((t.timestamp(), json.dumps(line, ensure_ascii=False)))

        add("open", policy="funnel-list", facts={"deal": "nested key, not the deal"})
        for stage in STAGES[: rng.randint(0, 3)]:
            add("next_step", action="call back", due=(t + timedelta(days=9)).date().isoformat())
            add("advance", to=stage)
        for _ in range(rng.randint(0, 3)):
            add("visit", kind="phone", note="拜访客户")
        if n % 7 == 0:
            add("advance", to="p90")  # refused whenever the deal has no live next step yet
        if n % 11 == 0:
            add("won", key=f"  {key} ")  # the same deal, with whitespace the language strips
    timed.sort()
    lines = [text for _, text in timed]
    lines.insert(5, "")
    lines.insert(17, '{"cmd": "visit", "deal": ')
    lines.insert(30, '["not", "an", "object"]')
    # An escaped key: the worker that owns D-00001 must find it without the fast path.
    late = (T0 + timedelta(days=30)).isoformat()
    lines.insert(len(lines) - 3, f'{{"cmd": "visit", "deal": "D-0000\\u0031", "at": "{late}"}}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def reference(path: Path) -> tuple[ImportReport, dict[str, Any]]:
    engine = build_engine("sqlite:///:memory:", actor="tester")
    try:
        return import_file(engine, path, batch_size=50), snapshot(engine)
    finally:
        engine.close()


def snapshot(engine: SalesEngine) -> dict[str, Any]:
    """Each deal's state and its events in stream order, without the recording clock."""
    deals = {}
    for key in engine.deal_keys():
        deal = engine.load(key)
        events = [
            {k: v for k, v in vars(engine.mapper.to_domain_event(s)).items() if k != "timestamp"}
            for s in engine.recorder.select_events(deal.id)
        ]
        deals[key] = (deal.state.as_dict(), events)
    return deals


def outcome(report: ImportReport) -> tuple[Any, ...]:
    return (
        report.lines,
        report.applied,
        report.duplicates,
        report.blank,
        [(e.line, e.message) for e in report.refused],
    )


def test_workers_apply_what_one_process_applies(store_url: str, tmp_path: Path) -> None:
    path = commands_file(tmp_path / "commands.jsonl", 120)
    expected_report, expected = reference(path)
    assert expected_report.refused, "the file must hold refused lines"
    assert expected_report.blank == 1

    report = import_file_parallel(
        EngineSpec(store_url, actor="tester"), path, workers=3, batch_size=50
    )
    assert outcome(report) == outcome(expected_report)
    engine = build_engine(store_url, actor="tester")
    try:
        assert snapshot(engine) == expected
        again = import_file_parallel(
            EngineSpec(store_url, actor="tester"), path, workers=2, batch_size=50
        )
        assert again.applied == 0
        assert again.duplicates == expected_report.applied
        assert snapshot(engine) == expected
    finally:
        engine.close()


def test_a_worker_that_cannot_reach_the_store_fails_the_import(tmp_path: Path) -> None:
    path = commands_file(tmp_path / "commands.jsonl", 5)
    spec = EngineSpec("postgresql://postgres@127.0.0.1:1/test?connect_timeout=2")
    with pytest.raises(StoreUnavailable, match="import worker"):
        import_file_parallel(spec, path, workers=2)


def _workers_of(pid: int) -> list[int]:
    """The import's worker processes: its own children, or its fork server's if it has
    one (not multiprocessing's resource tracker)."""
    children: dict[int, list[tuple[int, bytes]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        children.setdefault(int(stat[1]), []).append((int(entry.name), cmdline))
    own = children.get(pid, [])
    servers = [child for child, cmd in own if b"forkserver" in cmd]
    if servers:
        return [worker for server in servers for worker, _ in children.get(server, [])]
    return [child for child, cmd in own if b"resource_tracker" not in cmd]


def _events(store_url: str) -> int:
    engine = build_engine(store_url, actor="tester")
    try:
        return len(engine.recorder.select_notifications(start=1, limit=10**7))
    finally:
        engine.close()


def test_a_killed_worker_fails_the_import_and_a_rerun_completes_it(
    store_url: str, tmp_path: Path
) -> None:
    path = commands_file(tmp_path / "commands.jsonl", 2500, seed=11)
    expected_report, expected = reference(path)
    env = {**os.environ, "SALESENGINE_DB": store_url, "SALESENGINE_ACTOR": "tester"}
    command = [sys.executable, "-m", "salesengine", "import", str(path), "--batch-size", "20"]
    proc = subprocess.Popen(
        [*command, "--workers", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            workers = _workers_of(proc.pid)
            if len(workers) == 2 and _events(store_url) > 200:
                os.kill(workers[0], signal.SIGKILL)
                break
            time.sleep(0.05)
        else:
            pytest.fail("the import ended before a worker could be killed")
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert b"stopped unexpectedly" in err
    partial = _events(store_url)
    assert 0 < partial < expected_report.applied

    rerun = subprocess.run(
        [*command, "--workers", "2", "--json"],
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert rerun.returncode == 1  # the file's refused lines are refused again
    report = json.loads(rerun.stdout)
    assert report["applied"] + report["duplicates"] == expected_report.applied
    assert report["duplicates"] == partial
    engine = build_engine(store_url, actor="tester")
    try:
        assert snapshot(engine) == expected
    finally:
        engine.close()
