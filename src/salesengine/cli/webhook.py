"""``salesengine webhook``: secrets and refused deliveries of ``relay --webhook``; and what
``relay`` needs to relay to a webhook instead of a broker."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from salesengine.cli.options import STATE
from salesengine.cli.render import error, fail, print_json, say, short_time

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from salesengine.integration.transports import Outgoing
    from salesengine.integration.webhook import WebhookTransport, WebhookURL
    from salesengine.integration.webhook_failures import Failure

# As in cli/relay.py: the integration modules (httpx here) are imported by the commands
# that use them, so that every other command starts without them.

app = typer.Typer(help="Webhook secrets, and the events a webhook receiver refused.")


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """Where ``relay --webhook`` delivers, with what it signs, checked before the store
    is opened."""

    url: WebhookURL
    keys: tuple[bytes, ...]
    request_timeout: float
    concurrency: int

    @property
    def display(self) -> str:
        return self.url.display

    @property
    def default_name(self) -> str:
        return self.url.default_name

    def transport(self, sql: Engine, name: str, give_up: float | None) -> WebhookTransport:
        from salesengine.integration.webhook import WebhookOptions, WebhookTransport
        from salesengine.integration.webhook_failures import FailureLog

        display = self.display

        def retrying(message: Outgoing, reason: str, delay: float) -> None:
            say(
                f"webhook {display}: the event at position {message.position:,} "
                f"({message.type}) {reason}; retrying in {delay:.1f} s"
            )

        def refused(failure: Failure) -> None:
            error(
                f"webhook {display} refused the event at position {failure.position:,} "
                f"({failure.event_type}, id {failure.event_id}) with {failure.status}: "
                f"{failure.response or '(no body)'}; recorded (salesengine webhook failures), "
                "moving on"
            )

        options = WebhookOptions(
            request_timeout=self.request_timeout,
            concurrency=self.concurrency,
            give_up_seconds=give_up,
        )
        return WebhookTransport(
            self.url,
            self.keys,
            FailureLog(sql),
            name,
            options,
            on_retry=retrying,
            on_rejected=refused,
        )


def webhook_target(
    url: str, secret_file: Path | None, request_timeout: float, concurrency: int
) -> WebhookTarget:
    """The target of ``relay --webhook URL --secret-file F``; exit 2 for a URL or a
    secret file that cannot be used, naming it."""
    from salesengine.integration.webhook import WebhookURLError, parse_webhook_url
    from salesengine.integration.webhook_signing import SecretFileError, read_secret_file

    try:
        parsed = parse_webhook_url(url)
    except WebhookURLError as e:
        fail(f"--webhook: {e}")
    if secret_file is None:
        fail(
            "--webhook needs --secret-file F, the file holding the signing secret "
            "(make one with: salesengine webhook new-secret F)"
        )
    try:
        keys = read_secret_file(secret_file)
    except SecretFileError as e:
        fail(f"--secret-file: {e}")
    return WebhookTarget(parsed, keys, request_timeout, concurrency)


@app.command("new-secret")
def new_secret_command(
    file: Annotated[
        Path | None,
        typer.Argument(help="Write it to this new file (mode 600); default: print it."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace FILE if it is there (the old secret is lost).")
    ] = False,
) -> None:
    """Make a signing secret for relay --webhook: print it, or write it to FILE.

    The secret is whsec_ and the base64 of 32 random bytes, as the Standard Webhooks
    convention has it. Give the same secret to the receiver, which checks each
    delivery's signature with it.
    """
    from salesengine.integration.webhook_signing import new_secret

    secret = new_secret()
    if file is None:
        sys.stdout.write(secret + "\n")
        return
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        descriptor = os.open(file, flags, 0o600)
    except FileExistsError:
        fail(f"{file} is already there; --force replaces it (its secret is then lost)")
    except OSError as e:
        fail(f"cannot write {file}: {e.strerror or e}")
    with os.fdopen(descriptor, "w", encoding="utf-8") as sink:
        sink.write(secret + "\n")
    if force:
        os.chmod(file, 0o600)  # a file replaced keeps its mode otherwise
    say(f"wrote a new secret to {file}")


@app.command("failures")
def failures_command(
    name: Annotated[
        str | None, typer.Option("--name", help="Only this relay's (its --name).")
    ] = None,
    since: Annotated[
        int | None, typer.Option("--since", min=1, help="Only from this log position on.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the events webhook receivers refused, in log order.

    A refusal is an answer the relay does not retry (a 4xx other than 408, 425 or 429,
    or a 3xx): it recorded the event here and moved on. Once the receiver is fixed,
    deliver again from an event with relay --webhook URL --from-position P.
    """
    from salesengine.integration.webhook_failures import FailureLog
    from salesengine.store.settings import store_settings
    from salesengine.store.sql import sql_engine

    STATE.engine(create=False)  # a store that is not there: exit 2, and nothing is made
    sql = sql_engine(store_settings(STATE.db, creating=False))
    try:
        found = FailureLog(sql, create=False).read(name, since)
    finally:
        sql.dispose()
    if as_json:
        print_json(found)
        return
    _show(found)


def _show(found: list[Failure]) -> None:
    from salesengine.cli.tables import Grid, key, number, text

    if not found:
        say("no refused deliveries")
        return
    grid = Grid(
        [
            number("position"),
            key("event id"),
            key("type"),
            number("status"),
            key("refused at (UTC)"),
            key("relay"),
            text("answer"),
        ],
        title=f"{len(found):,} refused deliveries",
    )
    for f in found:
        grid.add(
            f"{f.position:,}",
            f.event_id,
            f.event_type,
            str(f.status),
            short_time(f.failed_at),
            f.relay,
            f.response,
        )
    grid.print()
