"""The standalone verifier against exports made to fool it: a forged checkpoint, a
truncated log, a swapped key, a checkpoint of another log, and edited export lines."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from salesengine import audit_verifier
from salesengine.audit.export import event_json, link_json
from salesengine.audit.keys import SignerKey
from salesengine.audit_verifier import (
    EXPORT_FORMAT,
    Checkpoint,
    Report,
    VerifierKey,
    checkpoint_body,
    verify_export,
)
from salesengine.store.chain_table import EMPTY, chain_rows

ORIGIN = "salesengine/test-log"
KEY = SignerKey.generate("auditor")
AGGREGATES = [f"{n:032x}" for n in (10, 11, 12)]


def history(n: int = 9) -> list[tuple[int, str, int, str, bytes]]:
    """``n`` events of three aggregates, round robin, at positions 1, 3, 5, ... (gaps as
    PostgreSQL leaves them)."""
    versions = dict.fromkeys(AGGREGATES, 0)
    events = []
    for i in range(n):
        aggregate = AGGREGATES[i % 3]
        versions[aggregate] += 1
        state = json.dumps({"i": i, "note": "été"}, ensure_ascii=False).encode()
        events.append((2 * i + 1, aggregate, versions[aggregate], "m:Event", state))
    return events


def export_lines(
    events: list[tuple[int, str, int, str, bytes]],
    sizes: tuple[int, ...] = (),
    key: SignerKey = KEY,
) -> list[str]:
    rows = chain_rows(EMPTY, events, {})
    lines = [json.dumps({"kind": "header", "format": EXPORT_FORMAT, "origin": ORIGIN})]
    for size in sizes:
        root = rows[size - 1][6]
        note = key.sign(checkpoint_body(ORIGIN, size, root))
        lines.append(json.dumps({"kind": "checkpoint", "note": note}))
    for (position, aggregate, version, topic, state), row in zip(events, rows, strict=True):
        event = event_json((aggregate, version, topic, state))
        link = link_json(row[1:])
        lines.append(
            json.dumps({"kind": "entry", "position": position, "event": event, "link": link})
        )
    return lines


def run(
    lines: list[str], keys: list[VerifierKey] | None = None, since: Checkpoint | None = None
) -> Report:
    return verify_export(lines, [KEY.verifier()] if keys is None else keys, since)


def test_an_untampered_export_holds_and_its_root_is_the_checkpoints() -> None:
    lines = export_lines(history(), sizes=(4, 9))
    report = run(lines)
    assert report.holds and report.size == 9 and report.checkpoints == 2
    assert Checkpoint.parse(json.loads(lines[2])["note"]).root == report.root


def test_a_forged_checkpoint_signature_does_not_hold() -> None:
    lines = export_lines(history(), sizes=(9,))
    note = json.loads(lines[1])["note"]
    body, _, signature = note.rpartition(" ")
    raw = bytearray(base64.b64decode(signature))
    raw[-1] ^= 1
    lines[1] = json.dumps(
        {"kind": "checkpoint", "note": f"{body} {base64.b64encode(raw).decode()}\n"}
    )
    (finding,) = run(lines).findings
    assert finding.kind == "checkpoint" and "no valid signature" in finding.details[0]


def test_a_checkpoint_with_a_forged_root_does_not_hold_even_when_signed_by_another_key() -> None:
    lines = export_lines(history(), sizes=(9,))
    forger = SignerKey.generate("auditor")
    forged = forger.sign(checkpoint_body(ORIGIN, 9, bytes(32)))
    lines[1] = json.dumps({"kind": "checkpoint", "note": forged})
    (finding,) = run(lines).findings
    assert finding.details == (
        "no valid signature by the given public key",
        "its root is not the root recomputed from the events",
    )
    # and under the forger's key (the swapped key) it is the root that gives it away
    (finding,) = run(lines, [forger.verifier()]).findings
    assert finding.details == ("its root is not the root recomputed from the events",)


def test_a_swapped_public_key_fails_every_genuine_checkpoint() -> None:
    lines = export_lines(history(), sizes=(3, 9))
    findings = run(lines, [SignerKey.generate("auditor").verifier()]).findings
    assert [f.version for f in findings] == [3, 9]
    assert all("no valid signature" in f.details[0] for f in findings)


def test_a_checkpoint_of_another_origin_does_not_hold() -> None:
    lines = export_lines(history(), sizes=(9,))
    rows = chain_rows(EMPTY, history(), {})
    note = KEY.sign(checkpoint_body("salesengine/another-log", 9, rows[-1][6]))
    lines[1] = json.dumps({"kind": "checkpoint", "note": note})
    (finding,) = run(lines).findings
    assert "origin 'salesengine/another-log'" in finding.details[0]


def test_a_truncated_export_is_named_by_the_checkpoint_that_covered_more() -> None:
    lines = export_lines(history(), sizes=(9,))[:-2]
    (finding,) = run(lines).findings
    assert (
        finding.kind == "checkpoint"
        and "it covers 9 entries, the log holds 7" in finding.details[0]
    )


def _edit(lines: list[str], index: int, change: Any) -> list[str]:
    record = json.loads(lines[index])
    change(record)
    return [*lines[:index], json.dumps(record), *lines[index + 1 :]]


def test_export_lines_edited_removed_or_swapped_are_named() -> None:
    lines = export_lines(history(), sizes=(9,))
    edited = _edit(
        lines, 3, lambda r: r["event"].update(state=r["event"]["state"].replace("été", "ete"))
    )
    assert [(f.kind, f.position) for f in run(edited).findings] == [
        ("edited", 3),
        ("checkpoint", None),
    ]
    removed = [*lines[:3], *lines[4:]]
    kinds = [(f.kind, f.position) for f in run(removed).findings]
    assert kinds[:2] == [("link", 5), ("removed", 9)] and kinds[-1] == ("checkpoint", None)
    swapped = _edit(
        _edit(lines, 3, lambda r: r.update(position=5)), 4, lambda r: r.update(position=3)
    )
    swapped[3], swapped[4] = swapped[4], swapped[3]
    assert [(f.kind, f.position) for f in run(swapped).findings][:2] == [
        ("reordered", 3),
        ("reordered", 5),
    ]


def test_export_lines_out_of_log_order_are_named_reordered() -> None:
    lines = export_lines(history(), sizes=(9,))
    lines[3], lines[4] = lines[4], lines[3]  # positions 5 then 3
    findings = run(lines).findings
    assert ("reordered", 3) in [(f.kind, f.position) for f in findings]
    assert any("out of log order: it comes after position 5" in f.details for f in findings)


def test_resuming_from_a_checkpoint_checks_only_what_follows_it() -> None:
    lines = export_lines(history(), sizes=(5,))
    since = Checkpoint.parse(json.loads(lines[1])["note"])
    early = _edit(lines, 3, lambda r: r["event"].update(topic="m:Other"))  # position 3: before
    assert run(early, since=since).holds
    assert not run(early).holds
    late = _edit(lines, 8, lambda r: r["event"].update(topic="m:Other"))  # position 13: after
    assert [(f.kind, f.position) for f in run(late, since=since).findings] == [("edited", 13)]


@pytest.mark.parametrize(
    ("note", "why"),
    [
        ("o\n9\nAAAA\n", "blank line"),
        ("o\nnine\nAAAA\n\n\u2014 k AAAA\n", "size is not a number"),
        ("o\n9\nAAAA\n\n\u2014 k AAAA\n", "not 32 bytes"),
        (f"o\n9\n{base64.b64encode(bytes(32)).decode()}\n\n", "not signed"),
        (f"o\n9\n{base64.b64encode(bytes(32)).decode()}\n\n- k AAAA\n", "not a signature line"),
    ],
)
def test_a_malformed_checkpoint_note_is_refused_saying_what_is_wrong(note: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        Checkpoint.parse(note)


def test_a_malformed_export_line_is_refused_naming_it() -> None:
    lines = export_lines(history(3))
    with pytest.raises(ValueError, match="line 3: not an entry"):
        run(_edit(lines, 2, lambda r: r.pop("link")))
    with pytest.raises(ValueError, match="line 1: not a salesengine-audit-export header"):
        run(lines[1:])


def test_the_verifier_module_runs_alone_from_a_copy_with_only_cryptography(tmp_path: Path) -> None:
    copy = tmp_path / "audit_verifier.py"
    copy.write_text(Path(audit_verifier.__file__).read_text(encoding="utf-8"), encoding="utf-8")
    export = tmp_path / "log.jsonl"
    export.write_text("\n".join(export_lines(history(), sizes=(9,))) + "\n", encoding="utf-8")
    public = tmp_path / "key.pub"
    public.write_text(KEY.verifier().text() + "\n", encoding="utf-8")
    # Isolated (-I: not this checkout), and with the engine's package made unimportable:
    # the copy runs on the standard library and cryptography alone.
    runner = (
        "import runpy, sys; sys.modules['salesengine'] = None; "
        "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    command = [sys.executable, "-I", "-c", runner, str(copy), str(export)]
    command += ["--public-key", str(public), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["holds"] is True
    export.write_text("\n".join(export_lines(history(), sizes=(9,))[:-1]) + "\n", encoding="utf-8")
    failed = subprocess.run(command[:-1], capture_output=True, text=True, check=False, cwd=tmp_path)
    assert failed.returncode == 1 and "truncated" in failed.stdout


def test_main_reports_unreadable_input_with_exit_2(tmp_path: Path) -> None:
    out = io.StringIO()
    assert audit_verifier.main([str(tmp_path / "missing.jsonl")], out) == 2


def test_the_recorders_inlined_hashing_is_the_verifiers_definition() -> None:
    events = history(7)
    rows = chain_rows(EMPTY, events, {AGGREGATES[0]: b"\x07" * 32})
    prev: dict[str, bytes] = {AGGREGATES[0]: b"\x07" * 32}
    log = audit_verifier.GENESIS
    for (position, aggregate, version, topic, state), row in zip(events, rows, strict=True):
        digest = audit_verifier.state_digest(state)
        hashed = audit_verifier.event_hash(
            prev.get(aggregate, audit_verifier.GENESIS), aggregate, version, topic, digest
        )
        prev[aggregate] = hashed
        log = audit_verifier.log_hash(log, position, hashed)
        assert row[4:] == (digest, hashed, log)
