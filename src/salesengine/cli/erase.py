"""``salesengine erase SUBJECT``: erase a data subject's personal data, for good: its key
is deleted and an erasure event recorded, in one transaction (docs/privacy.md)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from salesengine.cli.options import STATE
from salesengine.cli.render import error, fail, print_json, say, warn, when

if TYPE_CHECKING:
    from salesengine.domain.errors import SalesEngineError

# The forms of a subject, as application/erasure.SYNTAX names them; it is imported when
# the command runs (it loads the store's libraries), so the help keeps this copy, which
# tests/e2e/test_erase_cli.py holds equal to the original.
SYNTAX = "contact:ACCOUNT/CONTACT, person:NAME, deal:KEY or account:KEY"


def erase_command(
    subject: Annotated[
        str,
        typer.Argument(help=f"Whose personal data: {SYNTAX}.", show_default=False),
    ],
    yes: Annotated[
        bool,
        typer.Option(
            "--yes", help="Erase without asking (needed when standard input is not a terminal)."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the receipt as JSON.")] = False,
) -> None:
    """Erase a data subject's personal data: delete its key and record an erasure event,
    in one transaction. It cannot be undone: every reader then shows "\\[erased]" where the
    values were; figures and the audit chain are unchanged. Asks first on a terminal;
    elsewhere needs --yes. The actor is the global --by."""
    from salesengine.application.erasure import BadSubject, erase, parse_subject
    from salesengine.application.erasure_receipt import receipt
    from salesengine.domain.errors import CommandRefused

    try:
        parse_subject(subject)
    except BadSubject as e:
        fail(e.message)
    engine = STATE.engine(create=False)  # a store that is not there: exit 2, none made
    if not yes:
        _confirmed(subject)
    try:
        erased = erase(engine, subject, actor=STATE.actor)
    except BadSubject as e:
        fail(e.message)
    except CommandRefused as e:  # unknown deal, account or contact; nothing to erase
        _refused(subject, e)
    done = receipt(erased, STATE.actor or engine.default_actor)
    if as_json:
        print_json(done)
    else:
        _show(done)


def _confirmed(subject: str) -> None:
    """Go on only when a person at a terminal says yes; else end, nothing changed."""
    if not sys.stdin.isatty():
        fail(
            f"not erased: erasing {subject} cannot be undone; pass --yes to erase it "
            "(nothing was changed)"
        )
    if not typer.confirm(
        f"Erase the personal data of {subject}? It cannot be undone", default=False, err=True
    ):
        error(f"not erased: {subject} (nothing was changed)")
        raise typer.Exit(1)


def _refused(subject: str, e: SalesEngineError) -> NoReturn:
    from salesengine.application.erasure_receipt import refused

    error(refused(subject, e.message))
    raise typer.Exit(1)


def _show(done: dict[str, Any]) -> None:
    count = done["keys_deleted"]
    say(
        f"erased {done['subject']} ({done['kind']}): {count} key{'' if count == 1 else 's'} deleted"
    )
    for key_id in done["key_ids"]:
        say(f"  key {key_id}")
    say(f"erasure {done['erasure_id']}, recorded {when(done['recorded_at'])} by {done['by']}")
    if not done["scrubbed"]:
        warn(
            "another process kept the store's write-ahead log from being emptied: it may "
            "still hold the deleted keys; run PRAGMA wal_checkpoint(TRUNCATE) once it is "
            "idle (docs/privacy.md)"
        )
