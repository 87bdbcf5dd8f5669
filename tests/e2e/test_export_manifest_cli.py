"""``salesengine export`` writes a manifest beside its file, and ``salesengine audit
verify-export`` (and the standalone verifier) check an export against it, on SQLite and
PostgreSQL: exit 0 when everything holds, 1 naming what does not, 2 for no manifest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli_runner import CLI

OPENING = [
    "--policy",
    "five-level",
    "--amount",
    "1000",
    *("--fact", "key_people_known", "--fact", "org_structure_confirmed"),
    *("--fact", "need_determined", "--fact", "visit_arranged"),
]


def signed_store(cli: CLI, url: str) -> None:
    for key in ("ACME-1", "ACME-2"):
        assert cli("deal", "open", key, *OPENING, db_url=url).code == 0
    assert cli("deal", "amount", "ACME-1", "2000", db_url=url).code == 0
    assert cli("audit", "key", "generate", "--out", "audit.key", "--name", "auditor").code == 0
    assert cli("audit", "checkpoint", "--key", "audit.key", db_url=url).code == 0


def standalone(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The verifier's one file run as an auditor runs it, by path."""
    import salesengine.audit_verifier as module

    return subprocess.run(
        [sys.executable, str(module.__file__), "verify-export", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


@pytest.mark.parametrize(("output", "files"), [("log.xes.gz", 1), ("tables.csv", 2)])
def test_an_export_verifies_against_its_manifest_until_a_byte_of_it_changes(
    cli: CLI, store_url: str, tmp_path: Path, output: str, files: int
) -> None:
    signed_store(cli, store_url)
    done = cli("export", output, db_url=store_url)
    assert done.code == 0, done.err
    manifest = tmp_path / (f"{output}.manifest.json" if files == 1 else f"{output}/manifest.json")
    assert str(manifest.relative_to(tmp_path)) in done.out
    assert json.loads(manifest.read_text())["positions"] == [1, 2, 3]
    held = cli("audit", "verify-export", output, "--public-key", "audit.key.pub")
    assert held.code == 0, held.out + held.err
    assert held.out == f"{files} files, 3 chain rows, checkpoint of size 3: holds\n"
    offline = standalone(output, "--public-key", "audit.key.pub", cwd=tmp_path)
    assert (offline.returncode, offline.stdout) == (0, held.out)

    exported = tmp_path / output if files == 1 else tmp_path / output / "events.csv"
    data = bytearray(exported.read_bytes())
    data[-2] ^= 0x20
    exported.write_bytes(bytes(data))
    broken = cli("audit", "verify-export", output, "--public-key", "audit.key.pub", "--json")
    assert broken.code == 1
    findings = json.loads(broken.out)["findings"]
    assert [(f["kind"], f["subject"]) for f in findings] == [("file", exported.name)]
    offline = standalone(output, "--public-key", "audit.key.pub", cwd=tmp_path)
    assert offline.returncode == 1 and offline.stdout.startswith(f"file: {exported.name}: ")


def test_a_swapped_key_fails_and_a_missing_manifest_is_bad_input(cli: CLI, tmp_path: Path) -> None:
    signed_store(cli, str(tmp_path / "store.db"))
    assert cli("export", "log.xes").code == 0
    assert cli("audit", "key", "generate", "--out", "other.key", "--name", "auditor").code == 0
    swapped = cli("audit", "verify-export", "log.xes", "--public-key", "other.key.pub")
    assert swapped.code == 1
    assert "checkpoint: size 3: no valid signature by the given public key" in swapped.out
    assert cli("export", "-").code == 0  # standard output: the log alone, no manifest
    (tmp_path / "log.xes.manifest.json").unlink()
    missing = cli("audit", "verify-export", "log.xes", "--public-key", "audit.key.pub")
    assert missing.code == 2 and "log.xes.manifest.json: cannot read the manifest" in missing.err
