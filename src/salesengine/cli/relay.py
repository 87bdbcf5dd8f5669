"""``salesengine relay`` and ``salesengine contract``: integration events on a broker."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer

from salesengine.cli.options import STATE
from salesengine.cli.render import fail, say

if TYPE_CHECKING:
    from salesengine.integration.relay import Relay, RelayProgress

# The integration modules load faststream and the broker clients (and asyncio); they are
# imported by the commands that use them, so that every other command starts without them.

contract_app = typer.Typer(help="The published integration contract (AsyncAPI, JSON schemas).")
DEFAULT_CONTRACT_DIR = Path("docs/integration")


def relay_command(
    broker: Annotated[
        str,
        typer.Option(
            "--broker",
            help="nats://HOST:PORT, amqp://USER:PASS@HOST:PORT/, redis://HOST:PORT or "
            "kafka://HOST:PORT[,HOST:PORT].",
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="Whose tracking position this is; default: the broker's kind and host."
        ),
    ] = None,
    from_position: Annotated[
        int | None,
        typer.Option(
            "--from-position",
            min=1,
            help="Republish from this log position on (1: all history), then carry on.",
        ),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option("--follow/--once", help="Keep tailing the log, or stop once caught up."),
    ] = True,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=100_000, help="Events per acknowledged page.")
    ] = 1000,
    poll: Annotated[
        float, typer.Option("--poll", min=0.001, help="Seconds between looks at the log.")
    ] = 0.02,
) -> None:
    """Publish the store's deal events to a broker, in log order, at least once.

    The relay's position moves only once the broker has acknowledged a page, so a relay
    that is stopped, killed or cut off republishes, and never skips. Each message's id is
    its event's id, unique to the store: deduplicate by it.
    """
    import asyncio

    from salesengine.integration.relay import Relay, RelayOptions
    from salesengine.integration.transports import (
        BrokerURLError,
        broker_transport,
        parse_broker_url,
    )
    from salesengine.persistence import store_settings
    from salesengine.projecting import sql_engine

    try:
        url = parse_broker_url(broker)
    except BrokerURLError as e:
        fail(f"--broker: {e}")
        raise typer.Exit(2) from None
    if url.kind == "memory":
        fail("--broker: memory:// has no subscribers outside this process; use Relay in Python")
        raise typer.Exit(2)
    engine = STATE.engine()
    sql = sql_engine(store_settings(STATE.db))
    parts = urlsplit(url.url)
    options = RelayOptions(
        name=name or f"{url.kind}:{parts.hostname}:{parts.port or ''}".rstrip(":"),
        batch_size=batch_size,
        poll_seconds=poll,
    )

    def progress(p: RelayProgress) -> None:
        say(
            f"relay {url.display}: position {p.position:,} of {p.head:,} "
            f"({p.behind:,} behind), {p.published:,} published, {p.rate:,.0f} msgs/s"
        )

    def retry(reason: str, delay: float) -> None:
        say(f"broker {url.display} unavailable: {reason}; retrying in {delay:.1f} s")

    relay = Relay(engine, sql, broker_transport(url), options, on_progress=progress, on_retry=retry)
    say(
        f"relay '{options.name}' of store {relay.store_id} to {url.display}: "
        f"from position {from_position or 'stored'}"
    )
    try:
        asyncio.run(_run(relay, follow=follow, from_position=from_position))
    finally:
        sql.dispose()


async def _run(relay: Relay, *, follow: bool, from_position: int | None) -> None:
    import asyncio

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await relay.run(follow=follow, from_position=from_position, stop=stop)


@contract_app.command("write")
def contract_write(
    directory: Annotated[Path, typer.Argument(help="Where to write.")] = DEFAULT_CONTRACT_DIR,
) -> None:
    """Write the AsyncAPI documents and JSON schemas generated from the code."""
    from salesengine.integration.documents import write_contract

    for path in write_contract(directory):
        say(f"wrote {path}")


@contract_app.command("check")
def contract_check(
    directory: Annotated[Path, typer.Argument(help="The committed contract.")] = (
        DEFAULT_CONTRACT_DIR
    ),
) -> None:
    """Fail if the committed contract and the code have drifted apart."""
    from salesengine.integration.documents import contract_drift

    problems = contract_drift(directory)
    for problem in problems:
        fail(problem)
    if problems:
        fail("regenerate with: salesengine contract write")
        raise typer.Exit(1)
    say(f"{directory}: the contract matches the code")
