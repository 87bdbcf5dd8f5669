"""The private parts of nats-py the relay relies on, pinned.

Each test states one thing ``salesengine.integration.nats_seam`` takes for granted,
checked against nats-py's own ``publish`` where it has one, with no server. A new
version of nats-py that changes any of them fails here first; the pin in
pyproject.toml moves only once this file and tests/integration/test_nats_fast_path.py
pass.
"""

from __future__ import annotations

import asyncio
import inspect
from importlib.metadata import version
from types import SimpleNamespace
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient

from salesengine.integration import nats_seam

NATS_PY = version("nats-py")


class Recording(NatsClient):
    """A nats-py client with no server that passes for connected and records what its
    private buffer methods are asked to do."""

    def __init__(self, flush_pending: bool) -> None:
        super().__init__()
        self.calls: list[tuple[str, bytes]] = []
        self._flush_queue = asyncio.Queue()
        if flush_pending:  # a flush already asked for, not yet done
            self._flush_queue.put_nowait(asyncio.get_running_loop().create_future())

    @property
    def is_connected(self) -> bool:
        return True

    async def _send_command(self, cmd: bytes, priority: bool = False) -> None:
        self.calls.append(("queued" if not priority else "queued first", cmd))

    async def _flush_pending(self, force_flush: bool = False) -> Any:
        self.calls.append(("flush", b"force" if force_flush else b""))


@pytest.mark.parametrize("name", ["_send_command", "_flush_pending"])
def test_the_client_keeps_its_private_buffer_method(name: str) -> None:
    method = getattr(NatsClient, name, None)
    assert inspect.iscoroutinefunction(method), (
        f"nats-py {NATS_PY}: Client.{name} is gone or no longer a coroutine function, "
        "which salesengine.integration.nats_seam.command_queue calls"
    )
    first = list(inspect.signature(method).parameters)[:2]
    expected = {"_send_command": ["self", "cmd"], "_flush_pending": ["self", "force_flush"]}
    assert first == expected[name], f"nats-py {NATS_PY}: Client.{name}{first} changed"


def test_the_client_keeps_its_flush_queue() -> None:
    assert "_flush_queue" in vars(NatsClient()), (
        f"nats-py {NATS_PY}: Client._flush_queue is gone, which "
        "salesengine.integration.nats_seam.command_queue reads"
    )
    assert nats_seam.command_queue(NatsClient()) is not None


def test_a_client_without_them_gets_no_queue() -> None:
    client: Any = SimpleNamespace(stats={})
    assert nats_seam.command_queue(client) is None


def test_a_framed_message_is_the_protocols_hpub() -> None:
    # nats.protocol.command.hpub_cmd: "HPUB <subject> <reply> <header size> <total size>"
    framed = nats_seam.framed("a.b", "_INBOX.x.7", {"k": "v", "n": "1"}, b"body")
    assert framed == b"HPUB a.b _INBOX.x.7 24 28\r\nNATS/1.0\r\nk: v\r\nn: 1\r\n\r\nbody\r\n"


@pytest.mark.parametrize("flush_pending", [False, True])
def test_a_framed_message_queued_is_what_publish_queues_and_counts(flush_pending: bool) -> None:
    subject, reply, body = "salesengine.deal.p.won", "_INBOX.abc.12", b'{"id": 1}'
    headers = {"message_id": "m-1", "Nats-Msg-Id": "m-1"}

    async def both() -> tuple[Recording, Recording]:
        published, queued = Recording(flush_pending), Recording(flush_pending)
        await published.publish(subject, body, reply, headers)
        put = nats_seam.command_queue(queued)
        assert put is not None
        await put(nats_seam.framed(subject, reply, headers, body))
        nats_seam.count_sent(queued, body)
        return published, queued

    published, queued = asyncio.run(both())
    assert queued.calls == published.calls  # the same bytes, then a flush if none pending
    assert [what for what, _ in published.calls] == (
        ["queued"] if flush_pending else ["queued", "flush"]
    )
    assert queued.stats == published.stats, f"nats-py {NATS_PY}: Client.stats counts otherwise"
