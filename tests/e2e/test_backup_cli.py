"""``salesengine backup`` and ``restore`` as a user runs them: what they say, their exit
statuses, and bad paths or URLs refused with one clear line that change nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from salesengine.bootstrap import build_engine
from salesengine.store.backup import backup
from salesengine.store.settings import store_settings
from tests.support.cli_runner import CLI
from tests.support.commands import cmd
from tests.support.faults import ROOT


def seed(db: Path, deals: int = 3) -> None:
    """Deals D-0.. opened in this process (faster than a command each)."""
    engine = build_engine(str(db), actor="seeder")
    try:
        for n in range(deals):
            engine.execute(cmd(deal=f"D-{n}", cmd="open", policy="funnel-list", amount="100"))
    finally:
        engine.close()


def test_a_store_backed_up_and_restored_has_the_same_history(cli: CLI, tmp_path: Path) -> None:
    source, target, file = tmp_path / "store.db", tmp_path / "restored.db", tmp_path / "b.db"
    seed(source)
    assert cli("project").code == 0
    made = cli("backup", str(file))
    assert made.code == 0, made.err
    assert f"to {file}: 3 events up to position 3" in made.out
    put = cli("restore", str(file), "--json", db_url=str(target))
    assert put.code == 0, put.err
    assert put.json()["events"] == 3 and put.json()["replaced"] is None
    assert (
        json.loads(cli("history", "D-1", "--json").out)["events"]
        == json.loads(cli("history", "D-1", "--json", db_url=str(target)).out)["events"]
    )
    at = "2026-12-31T00:00:00Z"
    funnel = [cli("funnel", "--as-of", at, "--json", db_url=str(db)).out for db in (source, target)]
    assert funnel[0] == funnel[1]


def test_a_restore_over_a_store_names_it_and_needs_force(cli: CLI, tmp_path: Path) -> None:
    source, target, file = tmp_path / "store.db", tmp_path / "other.db", tmp_path / "b.db"
    seed(source, 2)
    seed(target, 5)
    assert cli("backup", str(file)).code == 0
    before = target.read_bytes()
    refused = cli("restore", str(file), db_url=str(target))
    assert refused.code == 1
    assert f"{target} is not empty: it holds an event store (5 events, up to position 5)" in (
        refused.err
    )
    assert "restore --force replaces all of it" in refused.err
    assert target.read_bytes() == before
    forced = cli("restore", str(file), "--force", db_url=str(target))
    assert forced.code == 0, forced.err
    assert f"replaced {target}, which held an event store (5 events" in forced.out
    assert cli("history", "D-4", db_url=str(target)).code == 1  # only the backup's deals


@pytest.mark.parametrize(
    ("args", "db", "says", "code"),
    [
        (["backup", "{tmp}/b.db"], "{tmp}/absent.db", "no event store at {tmp}/absent.db", 2),
        (["backup", "{tmp}/no/b.db"], None, "{tmp}/no is not a directory", 2),
        (["backup", "{tmp}"], None, "cannot write backup {tmp}: it is a directory", 2),
        (["restore", "{tmp}/none.db"], "{tmp}/new.db", "backup file {tmp}/none.db: no such", 2),
        (["restore", "{tmp}/junk"], "{tmp}/new.db", "not a salesengine backup", 2),
        (["restore", "{tmp}/b.db"], "{tmp}/no/new.db", "{tmp}/no does not exist", 2),
        (["backup", "{tmp}/b.db"], "mysql://x/y", "unsupported database URL 'mysql://x/y'", 1),
        (
            ["backup", "{tmp}/b.db"],
            "postgresql://postgres@127.0.0.1:1/x?connect_timeout=1",
            "cannot open the event store",
            1,
        ),
        (["restore", "{tmp}/b.db"], ":memory:", "cannot restore into an in-memory store", 2),
    ],
)
def test_bad_paths_and_urls_are_refused_clearly_and_change_nothing(
    cli: CLI, tmp_path: Path, args: list[str], db: str | None, says: str, code: int
) -> None:
    seed(tmp_path / "store.db", 1)
    backup(store_settings(str(tmp_path / "store.db")), tmp_path / "b.db")
    (tmp_path / "junk").write_text("not a backup\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    tmp = str(tmp_path)
    run = cli(
        *[a.format(tmp=tmp) for a in args],
        db_url=None if db is None else db.format(tmp=tmp),
    )
    assert run.code == code, (run.out, run.err)
    assert says.format(tmp=tmp) in run.err
    assert "Traceback" not in run.err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_backup_that_meets_a_full_disk_fails_and_leaves_no_file(cli: CLI, tmp_path: Path) -> None:
    seed(tmp_path / "store.db", 400)
    size = (tmp_path / "store.db").stat().st_size
    assert size > 200_000
    run = subprocess.run(
        [sys.executable, "-m", "tests.support.size_limited", "100000", "salesengine",
         "backup", str(tmp_path / "b.db")],
        check=False, capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SALESENGINE_DB": str(tmp_path / "store.db")},
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert f"cannot back up {tmp_path / 'store.db'} to {tmp_path / 'b.db'}" in run.stderr
    assert not (tmp_path / "b.db").exists()
    assert not list(tmp_path.glob(".b.db.partial*"))


def test_a_restore_that_fails_into_a_missing_file_leaves_no_file(cli: CLI, tmp_path: Path) -> None:
    seed(tmp_path / "store.db", 400)
    backup(store_settings(str(tmp_path / "store.db")), tmp_path / "b.db")
    assert (tmp_path / "b.db").stat().st_size > 200_000
    run = subprocess.run(
        [sys.executable, "-m", "tests.support.size_limited", "100000", "salesengine",
         "restore", str(tmp_path / "b.db")],
        check=False, capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SALESENGINE_DB": str(tmp_path / "new.db")},
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert f"cannot restore {tmp_path / 'b.db'} into {tmp_path / 'new.db'}" in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.db", "store.db"]


def test_a_forced_restore_says_how_many_revocations_it_kept(cli: CLI, tmp_path: Path) -> None:
    source, target, file = tmp_path / "store.db", tmp_path / "other.db", tmp_path / "b.db"
    seed(source, 1)
    made = cli("token", "create", "--name", "Li Wei", "--role", "admin")
    assert made.code == 0, made.err
    assert cli("backup", str(file)).code == 0
    assert cli("restore", str(file), db_url=str(target)).code == 0
    token_id = made.out.strip().split("_")[1]
    assert cli("token", "revoke", token_id, db_url=str(target)).code == 0
    forced = cli("restore", str(file), "--force", db_url=str(target))
    assert forced.code == 0, forced.err
    assert "kept 1 token revoked that the backup holds live" in forced.out
    listed = cli("token", "list", "--json", db_url=str(target))
    assert [t["revoked_at"] is not None for t in listed.json()] == [True]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:s3cret@[::1/sales",
        "postgresql://app:s3cret@db:port/sales",
        "postgresql://app:s3cret@db/",
        "postgresql://app:s3cret@db/sales?connect_timeout=soon",
        "mysql://app:s3cret@db/sales",
        "postgresql://app:s3cr@t/x@127.0.0.1:1/sales?connect_timeout=1",
    ],
)
def test_a_store_url_in_an_error_never_shows_its_password(
    cli: CLI, tmp_path: Path, url: str
) -> None:
    run = cli("backup", str(tmp_path / "b"), db_url=url)
    assert run.code == 1
    assert "app:***@" in run.err, run.err
    assert "s3cr" not in run.err + run.out
