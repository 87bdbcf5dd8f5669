"""The manifest beside an XES, CSV or Parquet export, on SQLite and PostgreSQL: it ties
the exported file to the signed chain, and its verification names each thing that does
not hold (the file, the checkpoint, the chain rows) once anything is tampered with."""

from __future__ import annotations

import base64
import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from salesengine.application.engine import SalesEngine
from salesengine.audit.keys import SignerKey
from salesengine.audit.manifest import write_manifest
from salesengine.audit.verify import make_checkpoint
from salesengine.audit_verifier import (
    Checkpoint,
    ManifestReport,
    VerifierKey,
    checkpoint_body,
    verify_manifest,
)
from salesengine.exporting.tables import ExportSummary, export_tables
from salesengine.exporting.xes import export_xes
from salesengine.store.settings import StoreSettings, store_settings
from salesengine.store.sql import sql_engine
from tests.support.audit import write_history
from tests.support.commands import cmd
from tests.support.stores import StoreFactory

KEY = SignerKey.generate("auditor")
LATER = datetime(2100, 1, 1, tzinfo=UTC)


@pytest.fixture
def engine(make_engine: StoreFactory) -> SalesEngine:
    made = make_engine()
    write_history(made)
    return made


@pytest.fixture
def store(engine: SalesEngine, store_url: str) -> Iterator[tuple[StoreSettings, Engine]]:
    settings = store_settings(store_url, creating=False)
    sql = sql_engine(settings, reader=True)
    yield settings, sql
    sql.dispose()


def signed(store: tuple[StoreSettings, Engine], key: SignerKey = KEY) -> Checkpoint:
    made, verified = make_checkpoint(*store, key)
    assert made is not None, verified.report.findings
    return made


def exported(
    engine: SalesEngine, store: tuple[StoreSettings, Engine], tmp_path: Path, fmt: str
) -> tuple[Path, Path, ExportSummary]:
    """An export of every deal in ``fmt`` and its manifest: (export, manifest, summary)."""
    if fmt == "xes":
        target = tmp_path / "log.xes"
        summary = export_xes(engine, target, LATER, LATER)
    else:
        target = tmp_path / "tables"
        summary = export_tables(engine, target, "csv" if fmt == "csv" else "parquet", LATER, LATER)
    about = {"export_format": fmt}
    manifest = write_manifest(*store, target, summary.files, summary.positions, about)
    return target, manifest, summary


def verdict(path: Path, key: VerifierKey | None = None) -> ManifestReport:
    return verify_manifest(path, [key or KEY.verifier()])


def lines(report: ManifestReport) -> list[str]:
    return [f.line() for f in report.findings]


def edit(manifest: Path, change: Any) -> None:
    found = json.loads(manifest.read_text())
    change(found)
    manifest.write_text(json.dumps(found))


@pytest.mark.parametrize("fmt", ["xes", "csv", "parquet"])
def test_given_a_signed_log_when_exported_then_its_manifest_ties_the_file_to_the_checkpoint(
    engine: SalesEngine, store: tuple[StoreSettings, Engine], tmp_path: Path, fmt: str
) -> None:
    made = signed(store)
    target, manifest, summary = exported(engine, store, tmp_path, fmt)
    assert manifest.name == ("log.xes.manifest.json" if fmt == "xes" else "manifest.json")
    found = json.loads(manifest.read_text())
    assert found["checkpoint"] == made.note and found["origin"] == made.origin
    # the deals' events: positions 1-8 and 13 (the account's and quota's are not exported)
    assert found["positions"] == sorted(summary.positions) == [*range(1, 9), 13]
    assert found["range"] == {"first": 1, "last": 13}
    chain = found["chain"]
    assert [row["seq"] for row in chain] == list(range(1, 14))
    assert base64.b64encode(bytes.fromhex(chain[-1]["log_hash"])).decode() in made.note
    assert {f["name"] for f in found["files"]} == {p.name for p in summary.files}
    report = verdict(target)
    assert report.holds, lines(report)
    assert (report.rows, report.checkpoint_size) == (13, 13)
    assert verdict(manifest).holds  # named by the manifest itself too
    if fmt == "csv":  # the positions listed are those of the exported rows
        with (target / "events.csv").open(newline="") as f:
            assert sorted(int(row["position"]) for row in csv.DictReader(f)) == found["positions"]


def test_every_single_altered_field_of_every_chain_row_is_named_at_its_position(
    engine: SalesEngine, store: tuple[StoreSettings, Engine], tmp_path: Path
) -> None:
    signed(store)
    _, manifest, _ = exported(engine, store, tmp_path, "xes")
    original = json.loads(manifest.read_text())
    for index, row in enumerate(original["chain"]):
        for name, altered in (
            ("event_hash", "ee" * 32),
            ("log_hash", "11" * 32),
            ("position", row["position"] + 100),
            ("seq", row["seq"] + 7),
        ):
            forged = json.loads(json.dumps(original))
            forged["chain"][index][name] = altered
            manifest.write_text(json.dumps(forged))
            report = verdict(manifest)
            assert not report.holds, (index, name)
            subjects = {f.subject for f in report.findings}
            named = {f"position {forged['chain'][index]['position']}"}
            if name == "seq" and index + 1 < len(original["chain"]):
                # the numbering is not hashed: it breaks at this row or the next
                named.add(f"position {original['chain'][index + 1]['position']}")
            at_root = "size 13" in subjects and index == len(original["chain"]) - 1
            assert named & subjects or at_root, (index, name, lines(report))


def test_a_later_export_range_runs_on_to_the_checkpoint_and_starts_from_its_previous_hash(
    engine: SalesEngine, store: tuple[StoreSettings, Engine], tmp_path: Path
) -> None:
    engine.execute(cmd(cmd="amount", deal="C", amount="75"))  # position 14
    made = signed(store)
    summary = export_xes(engine, tmp_path / "c.xes", LATER, LATER, keys=["C"])
    manifest = write_manifest(*store, tmp_path / "c.xes", summary.files, summary.positions, {})
    found = json.loads(manifest.read_text())
    assert found["positions"] == [3, 8, 14] and made.size == 14
    assert [r["position"] for r in found["chain"]] == list(range(3, 15))
    assert found["previous_log_hash"] != "00" * 32
    assert verdict(tmp_path / "c.xes").holds


@pytest.mark.parametrize("fmt", ["xes", "csv", "parquet"])
def test_one_byte_edited_in_the_export_is_named_by_its_file(
    engine: SalesEngine, store: tuple[StoreSettings, Engine], tmp_path: Path, fmt: str
) -> None:
    signed(store)
    _, manifest, summary = exported(engine, store, tmp_path, fmt)
    events = summary.files[0]
    data = bytearray(events.read_bytes())
    data[len(data) // 2] ^= 0x01
    events.write_bytes(bytes(data))
    report = verdict(manifest)
    assert [(f.kind, f.subject) for f in report.findings] == [("file", events.name)]
    assert "altered since the export" in report.findings[0].why


def test_an_edited_event_hash_in_the_manifest_breaks_the_chain_at_its_position(
    engine: SalesEngine, store: tuple[StoreSettings, Engine], tmp_path: Path
) -> None:
    signed(store)
    _, manifest, _ = exported(engine, store, tmp_path, "xes")

    def forge(m: dict[str, Any]) -> None:
        m["chain"][4]["event_hash"] = "ab" * 32

    edit(manifest, forge)
    assert lines(verdict(manifest)) == [
        "chain: position 5: its log hash is not recomputed from the previous one and its event hash"
    ]


def test_rows_rechained_in_the_manifest_no_longer_end_at_the_checkpoints_root(
    engine: SalesEngine, store: tuple[StoreSettings, Engine], tmp_path: Path
) -> None:
    from salesengine.audit_verifier import log_hash

    signed(store)
    _, manifest, _ = exported(engine, store, tmp_path, "csv")

    def rechain(m: dict[str, Any]) -> None:
        previous = bytes.fromhex(m["previous_log_hash"])
        m["chain"][2]["event_hash"] = "cd" * 32
        for row in m["chain"]:
            previous = log_hash(previous, row["position"], bytes.fromhex(row["event_hash"]))
            row["log_hash"] = previous.hex()

    edit(manifest, rechain)
    assert lines(verdict(manifest)) == [
        "checkpoint: size 13: the last row's log hash is not its root"
    ]


def test_an_edited_file_hash_a_removed_row_and_an_uncovered_position_are_each_named(
    engine: SalesEngine, store: tuple[StoreSettings, Engine], tmp_path: Path
) -> None:
    signed(store)
    _, manifest, _ = exported(engine, store, tmp_path, "xes")

    def forge(m: dict[str, Any]) -> None:
        m["files"][0]["sha256"] = "0" * 64
        del m["chain"][6]  # position 7, an exported event

    edit(manifest, forge)
    assert [(f.kind, f.subject) for f in verdict(manifest).findings] == [
        ("file", "log.xes"),
        ("chain", "position 8"),  # numbered 8 after 6, and its log hash no longer links
        ("chain", "position 8"),
        ("position", "7"),
    ]


def test_a_forged_checkpoint_and_a_swapped_key_are_named(
    engine: SalesEngine, store: tuple[StoreSettings, Engine], tmp_path: Path
) -> None:
    made = signed(store)
    _, manifest, _ = exported(engine, store, tmp_path, "parquet")
    impostor = SignerKey.generate("auditor")  # same name, another key
    # a swapped key: the auditor is handed the impostor's public key
    assert lines(verdict(manifest, impostor.verifier())) == [
        "checkpoint: size 13: no valid signature by the given public key"
    ]
    # a forged checkpoint: another root, signed by the impostor
    body = checkpoint_body(made.origin, made.size, bytes(32))
    forged = impostor.sign(body)
    edit(manifest, lambda m: m.update(checkpoint=forged))
    assert lines(verdict(manifest)) == [
        "checkpoint: size 13: no valid signature by the given public key",
        "checkpoint: size 13: the last row's log hash is not its root",
    ]


def test_an_export_with_no_checkpoint_does_not_hold_and_says_why(
    engine: SalesEngine, store: tuple[StoreSettings, Engine], tmp_path: Path
) -> None:
    _, manifest, _ = exported(engine, store, tmp_path, "xes")
    assert json.loads(manifest.read_text())["checkpoint"] is None
    assert lines(verdict(manifest)) == [
        "checkpoint: none: the manifest carries none: no signature ties the export to the log"
    ]


def test_a_manifest_that_is_not_one_or_lacks_a_field_is_refused_naming_it(
    engine: SalesEngine, store: tuple[StoreSettings, Engine], tmp_path: Path
) -> None:
    signed(store)
    target, manifest, _ = exported(engine, store, tmp_path, "xes")
    edit(manifest, lambda m: m.pop("previous_log_hash"))
    with pytest.raises(ValueError, match="'previous_log_hash'"):
        verdict(target)
    edit(manifest, lambda m: m.update(format="something-else"))
    with pytest.raises(ValueError, match="not a salesengine-export-manifest"):
        verdict(target)
    manifest.write_text("{not json")
    with pytest.raises(ValueError, match="manifest.json: not JSON"):
        verdict(target)
