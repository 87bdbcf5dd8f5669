"""The service benchmark's HTTP client: keep-alive HTTP/1.1 on asyncio streams.

The load runs on the same two cores as the server it measures, so whatever the client
spends is taken from the server. httpx's ``AsyncClient`` spent about 2 ms of CPU a
request here, half of what the server spends on a command; this client spends a small
fraction of that (bench/service.py prints the load's own CPU per request). It speaks
only what the service answers: a ``Content-Length`` or chunked body, no redirects, no
TLS, one request at a time on a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson


class TransportError(Exception):
    """The connection failed or the answer was not HTTP/1.1 this client reads."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


class Connection:
    """One keep-alive connection to ``base`` (``http://host:port``), opened on first use
    and again when the server has closed it."""

    def __init__(self, base: str, token: str, timeout: float = 60.0) -> None:
        parts = urlsplit(base)
        if parts.scheme != "http" or parts.hostname is None or parts.port is None:
            raise ValueError(f"{base!r}: give http://host:port")
        self.host, self.port = parts.hostname, parts.port
        self.timeout = timeout
        self._fixed = (
            f"Host: {self.host}:{self.port}\r\nAuthorization: Bearer {token}\r\n"
            "Connection: keep-alive\r\n"
        ).encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        """Connect now rather than at the first request."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def get(self, path: str, params: dict[str, str] | None = None) -> Answer:
        target = path if not params else f"{path}?{urlencode(params)}"
        return await self.request("GET", target)

    async def post(self, path: str, body: bytes) -> Answer:
        return await self.request("POST", path, body)

    async def request(self, method: str, target: str, body: bytes | None = None) -> Answer:
        """The answer to one request. A connection the server closed while idle (its
        keep-alive timeout) is opened again and the request sent once more: the
        benchmark's requests are reads, or commands that are idempotent by their id."""
        head = f"{method} {target} HTTP/1.1\r\n".encode() + self._fixed
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode()
        message = head + b"\r\n" + (body or b"")
        for attempt in (1, 2):
            fresh = self._writer is None
            try:
                return await asyncio.wait_for(self._exchange(message), self.timeout)
            except (ConnectionError, asyncio.IncompleteReadError, TransportError) as e:
                await self.close()
                if fresh or attempt == 2:
                    raise TransportError(f"{method} {target}: {type(e).__name__}: {e}") from e
            except TimeoutError as e:
                await self.close()
                raise TransportError(f"{method} {target}: no answer in {self.timeout:g} s") from e
        raise AssertionError("unreachable")

    async def _exchange(self, message: bytes) -> Answer:
        await self.open()
        assert self._reader is not None
        assert self._writer is not None
        self._writer.write(message)
        await self._writer.drain()
        lines = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        if not version.startswith("HTTP/1."):
            raise TransportError(f"not an HTTP/1 answer: {lines[0]!r}")
        status = int(rest[:3])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self._reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._chunks()
        else:
            raise TransportError("an answer with neither Content-Length nor chunks")
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return Answer(status, headers, body)

    async def _chunks(self) -> bytes:
        assert self._reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")  # no trailers from this server
                return b"".join(parts)
            parts.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError):  # already gone: what closing wanted
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def connected(base: str, token: str, count: int) -> AsyncIterator[list[Connection]]:
    """``count`` connections, opened one after another as clients arriving over time open
    theirs, and closed at the end. Opened in one burst, they would all go to the one
    server worker whose accept loop woke first (it accepts every connection waiting),
    and stay there."""
    connections = [Connection(base, token) for _ in range(count)]
    try:
        for c in connections:
            await c.open()
            await asyncio.sleep(ARRIVALS_SECONDS)
        yield connections
    finally:
        for c in connections:
            await c.close()


ARRIVALS_SECONDS = 0.02  # between two connections' opening
