"""What the relay relies on of nats-py beyond its public interface, in one place.

The NATS transport's fast path writes each message as nats-py's ``publish`` would,
without its per-header checks (docs/integration.md, "Publishing on NATS"):

- ``framed``: the ``HPUB`` command, built by ``hpub_cmd`` of ``nats.protocol.command``
  (an undocumented module), with the header block as the NATS protocol spells it.
- ``command_queue``: puts a framed command in the client's outgoing buffer and asks its
  flusher to write, as ``publish`` does, through the private ``_send_command``,
  ``_flush_pending`` and ``_flush_queue``; None on a client without them, and the
  transport then uses ``publish``.
- ``count_sent``: the client's ``stats`` counters, which ``publish`` keeps up.

tests/unit/test_nats_seam.py pins every one of them, so an upgrade of nats-py (pinned
in pyproject.toml) fails there first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nats.aio.client import Client as NatsClient
from nats.protocol.command import hpub_cmd

# Puts one framed command in a client's outgoing buffer, to be written by its flusher.
CommandQueue = Callable[[bytes], Awaitable[None]]


def framed(subject: str, reply: str, headers: dict[str, str], body: bytes) -> bytes:
    """A message with headers as ``publish`` frames it: an ``HPUB`` with a header block.
    The names and values must be safe on a header line as they are: nothing here trims
    or escapes them as ``publish`` does."""
    lines = "\r\n".join(map(": ".join, headers.items()))
    header = f"NATS/1.0\r\n{lines}\r\n\r\n".encode()
    return hpub_cmd(subject, reply, header, body)


def command_queue(client: NatsClient) -> CommandQueue | None:
    """A way to queue a framed command on ``client`` as its ``publish`` does once it has
    framed one; None if this nats-py keeps its outgoing buffer otherwise."""
    queue_command = getattr(client, "_send_command", None)
    flush = getattr(client, "_flush_pending", None)
    if not callable(queue_command) or not callable(flush) or not hasattr(client, "_flush_queue"):
        return None

    async def put(command: bytes) -> None:
        await queue_command(command)
        flushing = client._flush_queue
        if flushing is not None and flushing.empty():  # no flush pending: ask for one
            await flush()

    return put


def count_sent(client: NatsClient, body: bytes) -> None:
    """Count a message queued by ``command_queue`` in the client's stats, as ``publish``
    counts the messages it sends."""
    client.stats["out_msgs"] += 1
    client.stats["out_bytes"] += len(body)
