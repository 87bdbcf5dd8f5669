"""``salesengine backup FILE`` and ``salesengine restore FILE``: a consistent copy of the
whole store, taken while writers run, and the store put back from one (docs/operations.md)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from salesengine.cli.options import STATE
from salesengine.cli.render import error, print_json, say
from salesengine.cli.report_options import JsonOption

if TYPE_CHECKING:
    from salesengine.store.backup import Copied

Force = Annotated[bool, typer.Option("--force", help="Replace what is there.")]


def backup_command(
    file: Annotated[Path, typer.Argument(help="The backup file to write.", show_default=False)],
    force: Force = False,
    as_json: JsonOption = False,
) -> None:
    """Copy the whole store (events, read models, tokens) to FILE, consistent at one
    position while writers go on: SQLite's online backup, or pg_dump for PostgreSQL."""
    from salesengine.store.backup import backup
    from salesengine.store.settings import store_settings

    done = _run(lambda: backup(store_settings(STATE.db, creating=False), file, force=force))
    if as_json:
        print_json(_as_dict(done))
        return
    say(
        f"backed up {done.source} to {done.target}: {_events(done.events)} up to position "
        f"{done.position:,}, {done.bytes:,} bytes in {done.seconds:.1f} s"
    )


def restore_command(
    file: Annotated[Path, typer.Argument(help="The backup file to restore.", show_default=False)],
    force: Annotated[
        bool, typer.Option("--force", help="Replace a store that is not empty.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Put the store (--db) back from a backup. A target that holds anything is refused,
    naming what it holds, unless --force; tokens revoked in the replaced store stay
    revoked. A store in use (the service, a writer) is refused: stop them first."""
    from salesengine.store.backup import restore
    from salesengine.store.settings import store_settings

    done = _run(lambda: restore(file, store_settings(STATE.db, creating=False), force=force))
    if as_json:
        print_json(_as_dict(done))
        return
    if done.replaced is not None:
        say(f"replaced {done.target}, which held {done.replaced.describe()}")
    if done.kept_revoked:
        say(
            f"kept {done.kept_revoked:,} token{'' if done.kept_revoked == 1 else 's'} revoked "
            "that the backup holds live: they were revoked in the replaced store"
        )
    if done.kept_erased:
        say(
            f"deleted {done.kept_erased:,} personal data key"
            f"{'' if done.kept_erased == 1 else 's'} the backup holds of subjects the replaced "
            "store had erased: they stay erased (docs/privacy.md)"
        )
    say(
        f"restored {done.source} into {done.target}: {_events(done.events)} up to position "
        f"{done.position:,} in {done.seconds:.1f} s, read models as they were backed up"
    )


def _run(step: Callable[[], Copied]) -> Copied:
    """The step's result; its refusal as one line: exit 2 for a bad path or file, 1 for a
    target that is not empty or a copy that failed."""
    from salesengine.store.backup import BackupError, BadBackupInput

    try:
        return step()
    except BadBackupInput as e:
        error(e.message)
        sys.exit(2)
    except BackupError as e:
        error(e.message)
        sys.exit(1)


def _events(count: int) -> str:
    return f"{count:,} event{'' if count == 1 else 's'}"


def _as_dict(done: Copied) -> dict[str, object]:
    replaced = done.replaced
    return {
        "kind": done.kind,
        "source": done.source,
        "target": done.target,
        "events": done.events,
        "position": done.position,
        "bytes": done.bytes,
        "seconds": round(done.seconds, 3),
        "kept_revoked": done.kept_revoked,
        "kept_erased": done.kept_erased,
        "replaced": None
        if replaced is None
        else {"events": replaced.events, "position": replaced.position, "tables": replaced.tables},
    }
