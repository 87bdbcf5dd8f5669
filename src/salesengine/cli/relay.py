"""``salesengine relay`` and ``salesengine contract``: integration events on a broker."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

import typer

from salesengine.cli.options import STATE
from salesengine.cli.render import error, fail, note, say

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from salesengine.cli.webhook import WebhookTarget
    from salesengine.integration.relay import Relay, RelayOptions, RelayProgress
    from salesengine.integration.transports import BrokerURL, Transport

# The integration modules load faststream and the broker clients (and asyncio); they are
# imported by the commands that use them, so that every other command starts without them.

# How long ``--once`` waits for an unavailable broker before it gives up.
ONCE_TIMEOUT = 60.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

contract_app = typer.Typer(help="The published integration contract (AsyncAPI, JSON schemas).")
DEFAULT_CONTRACT_DIR = Path("docs/integration")


def relay_command(
    broker: Annotated[
        str | None,
        typer.Option(
            "--broker",
            help="nats://HOST:PORT, amqp://USER:PASS@HOST:PORT/, redis://HOST:PORT or "
            "kafka://HOST:PORT[,HOST:PORT].",
        ),
    ] = None,
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
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=0.1,
            help="Give up (exit 1) once the broker has been unavailable this many seconds; "
            f"default {ONCE_TIMEOUT:g} with --once, never with --follow.",
        ),
    ] = None,
    webhook: Annotated[
        str | None,
        typer.Option(
            "--webhook",
            help="Instead of --broker: POST each event to this http(s) URL, signed as "
            "Standard Webhooks do (docs/integration.md, Webhooks).",
        ),
    ] = None,
    secret_file: Annotated[
        Path | None,
        typer.Option(
            "--secret-file",
            help="With --webhook: the file holding the signing secret (whsec_...; make one "
            "with: salesengine webhook new-secret F).",
        ),
    ] = None,
    request_timeout: Annotated[
        float,
        typer.Option("--request-timeout", min=0.1, help="With --webhook: seconds for one attempt."),
    ] = 15.0,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            min=1,
            max=256,
            help="With --webhook: deliveries under way at once, each of another deal.",
        ),
    ] = 8,
) -> None:
    """Publish the store's deal events to a broker or a webhook, in log order, at least once.

    The relay's position moves only once the broker has acknowledged a page, so a relay
    that is stopped, killed or cut off republishes, and never skips. Each message's id is
    its event's id, unique to the store: deduplicate by it. Stopped by SIGINT or SIGTERM,
    it finishes the page in flight (a second signal stops it at once), says how far it
    got, and exits 130 or 143. A store that is not there is refused (exit 2), never made.

    With --webhook instead of --broker, each event is POSTed to the URL, signed; a
    delivery is retried on 5xx, 429 and timeouts, and one the receiver refuses (other
    4xx) is recorded (salesengine webhook failures) and passed.
    """
    from salesengine.integration.transports import BrokerURLError, parse_broker_url

    if (broker is None) == (webhook is None):
        fail("give either --broker URL or --webhook URL (with --secret-file F)")
    target: BrokerURL | WebhookTarget
    if webhook is not None:
        from salesengine.cli.webhook import webhook_target

        target = webhook_target(webhook, secret_file, request_timeout, concurrency)
    else:
        assert broker is not None
        if secret_file is not None:
            fail("--secret-file goes with --webhook, not --broker")
        try:
            target = parse_broker_url(broker)
        except BrokerURLError as e:
            fail(f"--broker: {e}")
        if target.kind == "memory":
            fail("--broker: memory:// has no subscribers outside this process; use Relay in Python")
    # A stop signal before the relay's event loop takes them over is kept, not fatal.
    early: list[int] = []
    previous = {s: signal.signal(s, lambda signum, _: early.append(signum)) for s in STOP_SIGNALS}
    try:
        _relay(target, name, from_position, follow, batch_size, poll, timeout, early)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _relay(
    url: BrokerURL | WebhookTarget,
    name: str | None,
    from_position: int | None,
    follow: bool,
    batch_size: int,
    poll: float,
    timeout: float | None,
    early: list[int],
) -> None:
    import asyncio

    from salesengine.domain.errors import SalesEngineError
    from salesengine.integration.relay import Relay, RelayGaveUp, RelayOptions
    from salesengine.store.settings import store_settings
    from salesengine.store.sql import sql_engine

    # The relay reads the log of a store that is there (it adds only its own tables):
    # a store that is not (a mistyped --db) is refused, exit 2, and nothing is created.
    engine = STATE.engine(create=False)
    sql = sql_engine(store_settings(STATE.db, creating=False))
    what, default_name = _target_names(url)
    options = RelayOptions(
        name=name or default_name,
        batch_size=batch_size,
        poll_seconds=poll,
        give_up_seconds=timeout if timeout is not None or follow else ONCE_TIMEOUT,
    )
    transport, on_stop = _transport(url, sql, options)

    def progress(p: RelayProgress) -> None:
        say(
            f"relay {url.display}: position {p.position:,} of {p.head:,} "
            f"({p.behind:,} behind), {p.published:,} published, {p.rate:,.0f} msgs/s"
        )

    stopped: list[bool] = []

    def retry(reason: str, delay: float) -> None:
        if not stopped:  # a stop signal ends the run: no retry follows
            say(f"{what} {url.display} unavailable: {reason}; retrying in {delay:.1f} s")

    def stop() -> None:
        stopped.append(True)
        if on_stop is not None:
            on_stop()

    relay = Relay(
        engine,
        sql,
        transport,
        options,
        on_progress=progress,
        on_retry=retry,
        on_note=note,
    )
    say(
        f"relay '{options.name}' of store {relay.store_id} to {url.display}: "
        f"from position {from_position or 'stored'}"
    )
    try:
        signum = asyncio.run(
            _run(relay, follow=follow, from_position=from_position, early=early, on_stop=stop)
        )
        if signum is not None:
            position, head = relay.positions.load(), relay.log.head()
            fail(
                f"relay '{options.name}' interrupted by {signal.Signals(signum).name} at "
                f"position {position:,} of {head:,} ({max(0, head - position):,} behind); "
                "run it again to carry on from there",
                128 + signum,
            )
    except RelayGaveUp as e:
        p = e.progress
        fail(
            f"relay '{options.name}' gave up: {what} {url.display} unavailable for "
            f"{e.seconds:.0f} s ({e.reason}); at position {p.position:,} of {p.head:,} "
            f"({p.behind:,} behind), {p.published:,} published in this run",
            1,
        )
    except ExceptionGroup as group:  # a delivery's task failed, e.g. recording a refusal
        first = _first(group)
        if isinstance(first, SalesEngineError):  # the store: one clear line, as elsewhere
            raise first from None
        raise
    finally:
        sql.dispose()


def _target_names(url: BrokerURL | WebhookTarget) -> tuple[str, str]:
    """What the relay sends to ("broker" or "webhook"), and its default ``--name``."""
    from salesengine.cli.webhook import WebhookTarget

    if isinstance(url, WebhookTarget):
        return "webhook", url.default_name
    parts = urlsplit(url.url)
    return "broker", f"{url.kind}:{parts.hostname}:{parts.port or ''}".rstrip(":")


def _transport(
    url: BrokerURL | WebhookTarget, sql: Engine, options: RelayOptions
) -> tuple[Transport, Callable[[], None] | None]:
    """The transport, and what to tell it of a first stop signal."""
    from salesengine.cli.webhook import WebhookTarget
    from salesengine.integration.transports import broker_transport

    if isinstance(url, WebhookTarget):
        webhook = url.transport(sql, options.name, options.give_up_seconds)
        return webhook, webhook.stop_retrying
    return broker_transport(url), None


def _first(group: ExceptionGroup[Exception]) -> Exception:
    found: Exception = group
    while isinstance(found, ExceptionGroup):
        found = found.exceptions[0]
    return found


async def _run(
    relay: Relay,
    *,
    follow: bool,
    from_position: int | None,
    early: list[int],
    on_stop: Callable[[], None] | None = None,
) -> int | None:
    """Run the relay until it is done or stopped; the signal that stopped it, if any.

    A first SIGINT or SIGTERM lets the page in flight finish (its acks move the
    position); a second one cancels the run at once, the position where it was.
    Signals received before (``early``) count as received now. ``on_stop`` is told of
    the first.
    """
    import asyncio

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    received: list[int] = []

    def stopping(signum: int) -> None:
        if received and task is not None:
            task.cancel()
        elif on_stop is not None:
            on_stop()
        received.append(signum)
        stop.set()

    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, stopping, signum)
    for number in early:
        stopping(number)
    try:
        await relay.run(follow=follow, from_position=from_position, stop=stop)
    except asyncio.CancelledError:
        if not received:
            raise
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
    return received[0] if received else None


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
        error(problem)
    if problems:
        fail("regenerate with: salesengine contract write", 1)
    say(f"{directory}: the contract matches the code")
