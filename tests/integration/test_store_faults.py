"""The fault matrix: a writer killed mid-batch, the database restarted mid-import, the
disk full. Afterwards nothing acknowledged is lost, nothing half-written is visible (a
batch, a source row, is all or nothing; the read models equal a replay) and the store
opens and takes writes: ``assert_store_sound`` checks the last for every case.

Writers are real processes (tests/support/fault_writer.py, ``salesengine import``);
PostgreSQL restarts happen on a private server (tests/support/postgres_server.py), never
the shared one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.brokers import ServerUnavailable
from tests.support.fault_writer import batch_ids
from tests.support.faults import (
    Acks,
    assert_batches_whole,
    count_events,
    start,
    start_writer,
    wait_for_events,
)
from tests.support.postgres_server import PostgresServer
from tests.support.services import service_unavailable
from tests.support.soundness import assert_store_sound, log_of

pytestmark = pytest.mark.slow  # the whole matrix: about 35 s of CPU (docs/operations.md)

ROWS = 2_000  # source rows of the import: enough that it is stopped part way


@pytest.fixture
def private_pg() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own, to restart at will."""
    try:
        server = PostgresServer()
    except ServerUnavailable as e:
        service_unavailable("a private PostgreSQL server", e)
    try:
        server.start()
    except ServerUnavailable as e:
        server.close()
        service_unavailable("a private PostgreSQL server", e)
    yield server
    server.close()


def write_pipeline(folder: Path, rows: int = ROWS) -> list[str]:
    """A CRM export whose every row is two commands (open, then advance): a row applied
    in part would show as a deal with one event."""
    source = folder / "pipeline.csv"
    source.write_text(
        "opportunity_id,sales_agent,deal_stage,engage_date\n"
        + "".join(f"O{i},Anna,Engaging,2017-01-02\n" for i in range(rows)),
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
    return [str(source), "--format", "csv", "--mapping", str(mapping), "--workers", "1"]


def start_import(url: str, args: list[str], limit: int | None = None) -> Acks:
    env = {"SALESENGINE_DB": url, "SALESENGINE_ACTOR": "importer"}
    return Acks(start(["-m", "salesengine", "import", *args], env=env, limit=limit))


def assert_rows_whole(url: str, args: list[str], rows: int = ROWS) -> None:
    """Every imported row is both of its events; then importing again completes it."""
    sound = assert_store_sound(url)
    per_deal = sound.events  # counted before the check's probe deal
    assert per_deal % 2 == 0, f"{per_deal} events: a row is in the store in part"
    again = start_import(url, args)
    err = again.finish()
    assert again.proc.returncode == 0, err
    imported = rows - per_deal // 2
    out = "\n".join(again.lines)
    assert f"rows: {imported} imported, {per_deal // 2} already imported" in out, out
    assert count_events(url) == 2 * rows + 1  # and the probe deal's opening


# ----------------------------------------------------------------- a writer killed


# The writer projects after every third batch (24 is the 25th): killed after the ack of
# batch 24, it is most likely deciding or committing batch 25; after 26's, projecting.
@pytest.mark.parametrize("acked", [25, 27], ids=["mid-batch", "mid-projection"])
def test_a_writer_killed_mid_batch_keeps_every_acknowledged_batch_and_no_part_of_one(
    store_url: str, acked: int
) -> None:
    acks = Acks(start_writer(store_url))
    acks.wait_for(acked)
    acks.kill()
    assert acks.acked, acks.lines
    sound = assert_store_sound(store_url)
    found = assert_batches_whole(sound, acks.acked, max(acks.acked) + 10)
    # The writer retries what it had not seen acknowledged: applied exactly once.
    retry = Acks(start_writer(store_url, max(acks.acked) + 1, max(acks.acked) + 4))
    retry.finish()
    assert retry.proc.returncode == 0, retry.lines
    assert_batches_whole(log_of(store_url), acks.acked + retry.acked, max(retry.acked) + 5)
    assert found - set(acks.acked) <= {max(acks.acked) + 1}


def test_an_import_killed_mid_way_leaves_only_whole_rows_and_importing_again_completes_it(
    store_url: str, tmp_path: Path
) -> None:
    # Small batches: many commits, so that a pause of the test cannot outlast them all.
    args = [*write_pipeline(tmp_path), "--batch-size", "50"]
    run = start_import(store_url, args)
    landed = wait_for_events(store_url, run.proc)
    run.kill()
    assert landed > 0
    assert count_events(store_url) < 2 * ROWS, "the import ended before it was killed"
    assert_rows_whole(store_url, args)


# ------------------------------------------------------- the database restarted


@pytest.mark.parametrize("crash", [True, False], ids=["crash", "fast-shutdown"])
def test_an_import_through_a_database_restart_leaves_only_whole_rows(
    private_pg: PostgresServer, tmp_path: Path, crash: bool
) -> None:
    url = private_pg.url
    args = write_pipeline(tmp_path)
    run = start_import(url, args)
    wait_for_events(url, run.proc)
    private_pg.restart(crash=crash)
    err = run.finish()
    # The import stops on the lost connection, saying so, or rides it out.
    assert run.proc.returncode in (0, 1), err
    assert "Traceback" not in err, err
    if run.proc.returncode == 1:
        assert "the import stopped: " in err, err
        assert "importing the same file again completes it" in err, err
    assert_rows_whole(url, args)


def test_a_writer_through_a_database_crash_keeps_every_acknowledged_batch(
    private_pg: PostgresServer,
) -> None:
    url = private_pg.url
    acks = Acks(start_writer(url, 0, 60))
    acks.wait_for(20)
    private_pg.restart(crash=True)
    acks.finish()
    # It stops on the lost connection (3), or its next connection finds the server back.
    assert acks.proc.returncode in (0, 3), acks.lines
    acked = acks.acked
    assert len(acked) >= 20
    sound = assert_store_sound(url)
    assert_batches_whole(sound, acked, max(acked) + 10)


# ------------------------------------------------------------------ the disk full


def refused_for_space(message: str) -> bool:
    """SQLite says "database or disk is full" on a full disk (ENOSPC), and "disk I/O
    error" when a write passes the file size limit (EFBIG)."""
    return "full" in message or "disk I/O error" in message


def store_size(db: Path) -> int:
    return max(Path(f"{db}{s}").stat().st_size for s in ("", "-wal") if Path(f"{db}{s}").exists())


def test_a_full_disk_fails_the_batch_whole_and_keeps_every_acknowledged_one(
    tmp_path: Path,
) -> None:
    db = tmp_path / "store.db"
    first = Acks(start_writer(str(db), 0, 10))
    first.finish()
    assert first.acked == list(range(10))
    # Room for a few more batches in the write-ahead log, then the disk is full.
    acks = Acks(start_writer(str(db), 10, 10**6, limit=store_size(db) + 96 * 1024))
    err = acks.finish()
    assert acks.proc.returncode == 3, (acks.lines, err)
    failed = [line for line in acks.lines if line.startswith(("failed", "projection failed"))]
    assert failed and refused_for_space(failed[0]), acks.lines
    sound = assert_store_sound(str(db))
    acked = first.acked + acks.acked
    found = assert_batches_whole(sound, acked, max(acked) + 10)
    assert found == set(acked), "the batch that met the full disk is not in the store"
    for n in found:
        assert {i for i in batch_ids(n) if sound.command_ids[i]} == batch_ids(n)


def test_an_import_on_a_full_disk_stops_with_a_clear_error_and_importing_again_completes_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "store.db"
    url = str(db)
    args = write_pipeline(tmp_path)
    run = start_import(url, args, limit=2 * 1024 * 1024)  # room for a batch or two
    err = run.finish()
    assert run.proc.returncode == 1, (run.lines, err)
    assert refused_for_space(err) and "Traceback" not in err, err
    assert "importing the same file again completes it" in err, err
    assert 0 < count_events(url) < 2 * ROWS
    assert_rows_whole(url, args)
