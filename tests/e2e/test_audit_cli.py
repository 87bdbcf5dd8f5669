"""``salesengine audit`` as an auditor runs it: a key, a signed checkpoint, verification
of the store and of its export (exit 0 only when all holds), and what a tampered
store, a bad key or a bad checkpoint file make it say."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

from tests.support.cli_runner import CLI

OPENING = [
    "--policy",
    "five-level",
    "--amount",
    "1000",
    *("--fact", "key_people_known", "--fact", "org_structure_confirmed"),
    *("--fact", "need_determined", "--fact", "visit_arranged"),
]


def written(cli: CLI) -> None:
    for key in ("ACME-1", "ACME-2"):
        assert cli("deal", "open", key, *OPENING).code == 0
    assert cli("deal", "amount", "ACME-1", "2000").code == 0


def test_an_auditor_signs_verifies_and_exports_then_catches_an_edit(
    cli: CLI, tmp_path: Path
) -> None:
    written(cli)
    made = cli("audit", "key", "generate", "--out", "audit.key", "--name", "auditor")
    assert made.code == 0 and made.out.startswith("auditor+")
    assert stat.S_IMODE((tmp_path / "audit.key").stat().st_mode) == 0o600
    assert cli("audit", "key", "public", "--key", "audit.key").out == made.out
    signed = cli("audit", "checkpoint", "--key", "audit.key", "--out", "cp.txt")
    assert signed.code == 0, signed.err
    assert signed.out == (tmp_path / "cp.txt").read_text() and "\n3\n" in signed.out
    held = cli("audit", "verify", "--public-key", "audit.key.pub", "--json")
    assert held.code == 0, held.out
    report = json.loads(held.out)
    assert (report["holds"], report["size"], report["checkpoints"]) == (True, 3, 1)
    assert cli("audit", "export", "log.jsonl").code == 0
    offline = cli("audit", "verify", "--export", "log.jsonl", "--public-key", "audit.key.pub")
    assert offline.code == 0 and "holds" in offline.out

    with sqlite3.connect(tmp_path / "store.db") as db:
        db.execute("UPDATE stored_events SET topic = topic || 'x' WHERE rowid = 2")
    broken = cli("audit", "verify", "--public-key", "audit.key.pub")
    assert broken.code == 1
    assert "edited: position 2" in broken.out and "topic" in broken.out
    assert "checkpoint: checkpoint of size 3" in broken.out
    # resuming from the checkpoint trusts what it covers and reads only what came after
    # it (nothing): the edit before it is the full verification's to find
    resumed = cli("audit", "verify", "--public-key", "audit.key.pub", "--from-checkpoint", "cp.txt")
    assert resumed.code == 0 and resumed.out.startswith("0 positions read, log size 3")
    refused = cli("audit", "checkpoint", "--key", "audit.key")
    assert refused.code == 1 and "nothing signed" in refused.err
    # incremental: what the last checkpoint covers is trusted, so it signs its root again
    again = cli("audit", "checkpoint", "--key", "audit.key", "--incremental", "--json")
    assert again.code == 0 and again.json()["root"] in signed.out
    # the export taken before the edit still holds offline; a fresh one does not
    assert (
        cli("audit", "verify", "--export", "log.jsonl", "--public-key", "audit.key.pub").code == 0
    )
    assert cli("audit", "export", "log2.jsonl").code == 0
    assert (
        cli("audit", "verify", "--export", "log2.jsonl", "--public-key", "audit.key.pub").code == 1
    )


def test_the_signer_key_can_come_from_the_environment(cli: CLI, tmp_path: Path) -> None:
    written(cli)
    assert cli("audit", "key", "generate", "--out", "k").code == 0
    env = {"SALESENGINE_AUDIT_KEY": (tmp_path / "k").read_text()}
    assert cli("audit", "checkpoint", env=env).code == 0
    assert cli("audit", "verify", env=env).code == 0  # checked with the key's public half
    listed = cli("audit", "list", "--json")
    assert [c["id"] for c in json.loads(listed.out)] == [1]


def test_unusable_keys_and_checkpoint_files_exit_2_naming_them(cli: CLI, tmp_path: Path) -> None:
    written(cli)
    (tmp_path / "bad.key").write_text("not a key\n")
    (tmp_path / "bad.cp").write_text("o\n1\n")
    no_key = cli("audit", "checkpoint")
    assert no_key.code == 2 and "SALESENGINE_AUDIT_KEY" in no_key.err
    bad = cli("audit", "checkpoint", "--key", "bad.key")
    assert bad.code == 2 and "--key bad.key: not a signer key" in bad.err
    bad_pub = cli("audit", "verify", "--public-key", "bad.key")
    assert bad_pub.code == 2 and "--public-key bad.key" in bad_pub.err
    bad_cp = cli("audit", "verify", "--from-checkpoint", "bad.cp")
    assert bad_cp.code == 2 and "--from-checkpoint bad.cp" in bad_cp.err
    none_kept = cli("audit", "verify", "--from-checkpoint", "latest")
    assert none_kept.code == 2 and "keeps no checkpoint" in none_kept.err
    assert cli("audit", "key", "generate", "--out", "k").code == 0
    again = cli("audit", "key", "generate", "--out", "k")
    assert again.code == 2 and "never overwritten" in again.err
    # nothing above changed the store
    assert json.loads(cli("audit", "list", "--json").out) == []
