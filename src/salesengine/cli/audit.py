"""``salesengine audit``: the store's hash chain verified, checkpoints signed and kept,
keys made, and the export an outside auditor verifies offline (docs/audit.md)."""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from salesengine.cli.options import STATE
from salesengine.cli.render import err, fail, print_json, say

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from salesengine.audit.verify import StoreReport
    from salesengine.audit_verifier import Checkpoint, Report
    from salesengine.store.settings import StoreSettings

app = typer.Typer(
    help="The tamper-evident history: verify it, sign checkpoints, export it (docs/audit.md).",
    no_args_is_help=True,
)
key_app = typer.Typer(help="Ed25519 keys that sign checkpoints.", no_args_is_help=True)
app.add_typer(key_app, name="key")

KeyOption = Annotated[
    Path | None,
    typer.Option("--key", help="The signer key file; default: $SALESENGINE_AUDIT_KEY (its text)."),
]


@contextmanager
def store() -> Iterator[tuple[StoreSettings, Engine]]:
    """The store's settings and database. Opening the engine first chains a store written
    before chaining began (once), and says when no store is there."""
    from salesengine.store.settings import store_settings
    from salesengine.store.sql import sql_engine

    STATE.engine(create=False)
    settings = store_settings(STATE.db, creating=False)
    sql = sql_engine(settings, reader=True)
    try:
        yield settings, sql
    finally:
        sql.dispose()


@contextmanager
def audit_input() -> Iterator[None]:
    """A key or file that cannot be used: exit 2, nothing changed."""
    from salesengine.audit.keys import InvalidInput

    try:
        yield
    except InvalidInput as e:
        fail(e.message)


@key_app.command("generate")
def key_generate(
    out: Annotated[Path, typer.Option("--out", help="Where to write the signer key (mode 600).")],
    name: Annotated[str, typer.Option("--name", help="The key's name in signatures.")] = (
        "salesengine-audit"
    ),
) -> None:
    """Make a signer key (written to --out, never to the store) and its public key
    (written to OUT.pub and printed)."""
    from salesengine.audit.keys import SignerKey, write_secret

    with audit_input():
        key = SignerKey.generate(name)
        write_secret(out, key.text())
        public = out.with_name(out.name + ".pub")
        public.write_text(key.verifier().text() + "\n", encoding="utf-8")
    say(key.verifier().text())
    err.print(f"signer key in {out}, public key in {public}")


@key_app.command("public")
def key_public(key: KeyOption = None) -> None:
    """Print the public (verifier) key of the signer key."""
    from salesengine.audit.keys import load_signer

    with audit_input():
        say(load_signer(key).verifier().text())


@app.command("checkpoint")
def checkpoint(
    key: KeyOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the signed note to this file.")
    ] = None,
    incremental: Annotated[
        bool,
        typer.Option(
            "--incremental",
            help="Verify only what came after this key's latest checkpoint, not the whole log.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Verify the log and, if it holds, sign and keep a checkpoint of its size and root
    (exit 1, nothing signed, if it does not)."""
    from salesengine.audit.keys import load_signer
    from salesengine.audit.verify import make_checkpoint

    with audit_input():
        signer = load_signer(key)
    with store() as (settings, sql):
        made, verified = make_checkpoint(settings, sql, signer, incremental=incremental)
    if made is None:
        _show(verified.report, as_json, verified)
        err.print("nothing signed: the log does not hold")
        raise typer.Exit(1)
    if out is not None:
        try:
            out.write_text(made.note, encoding="utf-8")
        except OSError as e:
            fail(f"--out {out}: cannot write it: {e.strerror}")
    if as_json:
        print_json(_checkpoint_json(made))
    else:
        sys.stdout.write(made.note)


@app.command("list")
def list_checkpoints(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The checkpoints the store keeps, oldest first."""
    from salesengine.audit.checkpoints import kept

    with store() as (_, sql):
        notes = kept(sql)
    if as_json:
        print_json([{"id": number, "note": note} for number, note in notes])
        return
    for number, note in notes:
        say(f"# checkpoint {number}\n{note}")


@app.command("verify")
def verify(
    from_checkpoint: Annotated[
        str | None,
        typer.Option(
            "--from-checkpoint",
            help="Resume from this signed checkpoint (a note file, or 'latest' kept): verify "
            "only what came after it, and that the log is consistent with it.",
        ),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option("--export", help="Verify this export file instead of the store."),
    ] = None,
    public_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--public-key",
            help="A verifier key file (repeatable); default $SALESENGINE_AUDIT_PUBLIC_KEY, "
            "or the public half of $SALESENGINE_AUDIT_KEY.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recompute every chain and check every checkpoint; name each event edited, removed,
    inserted or reordered. Exit 0 only when everything holds."""
    from salesengine.audit.keys import load_verifiers
    from salesengine.audit_verifier import verify_export

    with audit_input():
        keys = load_verifiers(public_key or [])
    if export is not None:
        since = _checkpoint_file(from_checkpoint) if from_checkpoint else None
        try:
            with export.open(encoding="utf-8") as f:
                report = verify_export(f, keys, since)
        except OSError as e:
            fail(f"--export {export}: cannot read it: {e.strerror}")
        except ValueError as e:
            fail(f"--export {export}: {e}")
        _show(report, as_json, None)
    else:
        from salesengine.audit.verify import verify_store

        with store() as (settings, sql):
            since = _since(from_checkpoint, sql)
            verified = verify_store(settings, sql, keys, since)
        report = verified.report
        _show(report, as_json, verified)
    if not report.holds:
        raise typer.Exit(1)


@app.command("verify-export")
def verify_export_command(
    export: Annotated[
        Path,
        typer.Argument(help="An XES file, a CSV or Parquet export directory, or its manifest."),
    ],
    public_key: Annotated[
        list[Path] | None,
        typer.Option(
            "--public-key",
            help="A verifier key file (repeatable); default $SALESENGINE_AUDIT_PUBLIC_KEY, "
            "or the public half of $SALESENGINE_AUDIT_KEY.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check an XES, CSV or Parquet export against the manifest beside it: each file's
    SHA-256, the checkpoint's signature, and that the manifest's chain rows link to the
    checkpoint's root. Exit 0 only when all holds. Needs no store."""
    from salesengine.audit.keys import load_verifiers
    from salesengine.audit_verifier import manifest_path, verify_manifest, write_manifest_report

    with audit_input():
        keys = load_verifiers(public_key or [])
    try:
        report = verify_manifest(export, keys)
    except OSError as e:
        fail(f"{manifest_path(export)}: cannot read the manifest: {e.strerror}")
    except ValueError as e:
        fail(str(e))  # it names the manifest
    write_manifest_report(report, as_json, sys.stdout)
    if not report.holds:
        raise typer.Exit(1)


@app.command("export")
def export_command(
    out: Annotated[str, typer.Argument(help="The JSON Lines file to write (- for stdout).")],
) -> None:
    """Export every stored event with its chain link, and the kept checkpoints, for
    `salesengine audit verify --export` or the standalone verifier."""
    from salesengine.audit.export import export_log

    with store() as (settings, sql):
        if out == "-":
            summary = export_log(settings, sql, sys.stdout)
        else:
            try:
                with open(out, "w", encoding="utf-8") as f:
                    summary = export_log(settings, sql, f)
            except OSError as e:
                fail(f"{out}: cannot write it: {e.strerror}")
    err.print(
        f"{summary.entries} entries and {summary.checkpoints} checkpoints of {summary.origin}"
    )


def _since(given: str | None, sql: Engine) -> Checkpoint | None:
    if given is None:
        return None
    if given != "latest":
        return _checkpoint_file(given)
    from salesengine.audit.verify import kept_checkpoints

    found, _ = kept_checkpoints(sql)
    if not found:
        fail("--from-checkpoint latest: the store keeps no checkpoint")
    return found[-1]


def _checkpoint_file(path: str) -> Checkpoint:
    from salesengine.audit_verifier import Checkpoint

    try:
        return Checkpoint.parse(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        fail(f"--from-checkpoint {path}: cannot read it: {e.strerror}")
    except ValueError as e:
        fail(f"--from-checkpoint {path}: {e}")


def _show(report: Report, as_json: bool, verified: StoreReport | None) -> None:
    if as_json:
        found: dict[str, Any] = report.as_json()
        if verified is not None:
            found["origin"] = verified.origin
            start = verified.start
            found["chained_since"] = start.chained_since
            found["upgraded_through"] = start.upgraded_through
            found["erasures"] = verified.erasures
        print_json(found)
        return
    for f in report.findings:
        say(f.line())
    verdict = "holds" if report.holds else f"does NOT hold: {len(report.findings)} findings"
    root = base64.b64encode(report.root).decode()
    say(f"{report.entries} positions read, log size {report.size}, root {root}: {verdict}")
    if verified is not None and verified.erasures:
        erased = (
            "every erased key is gone"
            if not any(f.kind == "erasure" for f in report.findings)
            else "an erased key is still stored"
        )
        say(f"{verified.erasures} erasure(s) recorded: {erased}")


def _checkpoint_json(made: Checkpoint) -> dict[str, Any]:
    return {
        "origin": made.origin,
        "size": made.size,
        "root": base64.b64encode(made.root).decode(),
        "note": made.note,
    }
