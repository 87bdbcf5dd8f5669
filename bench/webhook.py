"""Webhook relay benchmark: deliveries per second to a local receiver, against raw httpx.

    python bench/webhook.py                        # 2,000 deals, concurrency 8 and 32
    python bench/webhook.py --deals 20000 --concurrency 1,8,32

A copy of the generated store of bench/projections.py (seeded, cached in bench/.data/)
is relayed from position 1 with ``Relay(...).run(follow=False)`` and the webhook
transport to a receiver in its own process (an asyncio HTTP/1.1 server that checks every
signature and each deal's version order, and counts ids). Beside it, in the same run:

- the relay with a transport that only keeps the messages: reading and translating the
  log, with no HTTP (a ceiling for the relay);
- the baseline: the very same messages POSTed, signed, with a plain httpx
  ``AsyncClient`` by as many workers as the relay's concurrency, taking the next
  message whatever its deal (no per-deal order: an upper bound for HTTP alone).

Each relay run must deliver every message once, every signature must verify, and no
deal's events may arrive out of version order; the benchmark fails otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from time import perf_counter
from typing import Any

import httpx
import orjson
from harness import DATA_DIR, status, stop
from relay import copy_store, free_port

from projections import ensure_store
from salesengine.bootstrap import build_engine
from salesengine.integration.relay import Relay, RelayOptions
from salesengine.integration.transports import Outgoing, Transport
from salesengine.integration.webhook import WebhookOptions, WebhookTransport, parse_webhook_url
from salesengine.integration.webhook_failures import FailureLog
from salesengine.integration.webhook_signing import new_secret, secret_key, signature
from salesengine.store.settings import store_settings
from salesengine.store.sql import sql_engine

DEFAULT_DEALS = 2_000
DEFAULT_SEED = 20240701  # the seed of bench/projections.py: its cached stores are shared


# --------------------------------------------------------------------------- the receiver


class Receiver:
    """What the receiving process has seen."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.ids: set[str] = set()
        self.bad_signatures = 0
        self.out_of_order = 0
        self.versions: dict[str, int] = {}

    def take(self, headers: dict[bytes, bytes], body: bytes) -> None:
        self.requests += 1
        signed = headers[b"webhook-id"] + b"." + headers[b"webhook-timestamp"] + b"." + body
        mac = base64.b64encode(hmac.digest(self.key, signed, hashlib.sha256))
        if b"v1," + mac not in headers.get(b"webhook-signature", b"").split():
            self.bad_signatures += 1
        event = orjson.loads(body)
        self.ids.add(event["id"])
        deal, number = event["deal_id"], event["version"]
        if number < self.versions.get(deal, 0):
            self.out_of_order += 1
        self.versions[deal] = max(number, self.versions.get(deal, 0))

    def stats(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "unique": len(self.ids),
            "bad_signatures": self.bad_signatures,
            "out_of_order": self.out_of_order,
        }


async def serve(port: int, secret: str) -> None:
    receiver = Receiver(secret_key(secret))
    ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(b":") for line in lines[1:] if line)
                }
                body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
                if lines[0].startswith(b"GET /stats"):
                    answer = orjson.dumps(receiver.stats())
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(answer))
                    writer.write(answer)
                elif lines[0].startswith(b"GET /reset"):
                    receiver.reset()
                    writer.write(ok)
                else:
                    receiver.take(headers, body)
                    writer.write(ok)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


class ReceiverProcess:
    def __init__(self, secret: str) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(self.port), "--secret", secret]
        )
        deadline = perf_counter() + 30
        while perf_counter() < deadline:
            try:
                self.get("/reset")
                return
            except httpx.TransportError:
                time.sleep(0.05)
        self.close()
        raise SystemExit("the receiver did not come up")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def get(self, path: str) -> Any:
        answer = httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=30)
        return answer.json() if answer.content else None

    def close(self) -> None:
        stop(self.process)


# --------------------------------------------------------------------------- the runs


class Keep(Transport):
    """Keeps every message: the relay with no HTTP at all."""

    kind = "keep"
    in_flight = 256

    def __init__(self) -> None:
        self.messages: list[Outgoing] = []

    async def start(self) -> None:
        return

    async def publish(self, message: Outgoing) -> None:
        self.messages.append(message)

    async def stop(self) -> None:
        return


@dataclass(frozen=True, slots=True)
class Run:
    path: str
    concurrency: int
    messages: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


def relay_run(db: str, transport: Transport, name: str) -> tuple[int, float]:
    engine = build_engine(db, actor="bench", create=False)
    sql = sql_engine(store_settings(db))
    try:
        relay = Relay(engine, sql, transport, RelayOptions(name=name, batch_size=1000))
        started = perf_counter()
        progress = asyncio.run(relay.run(from_position=1))
        return progress.published, perf_counter() - started
    finally:
        sql.dispose()
        engine.close()


def webhook_run(db: str, receiver: ReceiverProcess, secret: str, concurrency: int) -> Run:
    receiver.get("/reset")
    sql = sql_engine(store_settings(db))
    transport = WebhookTransport(
        parse_webhook_url(receiver.url),
        (secret_key(secret),),
        FailureLog(sql),
        f"bench-{concurrency}",
        WebhookOptions(concurrency=concurrency),
    )
    try:
        published, seconds = relay_run(db, transport, f"bench-{concurrency}")
    finally:
        sql.dispose()
    seen = receiver.get("/stats")
    wanted = {"requests": published, "unique": published, "bad_signatures": 0, "out_of_order": 0}
    if seen != wanted:
        raise SystemExit(f"the receiver saw {seen}, not {wanted}")
    return Run("`Relay.run`, webhook, each deal one at a time", concurrency, published, seconds)


async def raw_posts(url: str, key: bytes, messages: list[Outgoing], concurrency: int) -> float:
    """The messages POSTed, signed, by ``concurrency`` workers in turn; the seconds."""
    pending = iter(messages)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=15.0) as client:

        async def worker() -> None:
            for message in pending:
                stamp = int(time.time())
                headers = {
                    "content-type": "application/json",
                    "webhook-id": message.id,
                    "webhook-timestamp": str(stamp),
                    "webhook-signature": signature((key,), message.id, stamp, message.body),
                }
                answer = await client.post(url, content=message.body, headers=headers)
                answer.raise_for_status()

        started = perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return perf_counter() - started


# --------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=DEFAULT_DEALS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--concurrency", default="8,32", help="comma-separated")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the receiver
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.serve is not None:
        asyncio.run(serve(args.serve, args.secret))
        return
    levels = [int(c) for c in args.concurrency.split(",")]
    info = ensure_store(args.deals, args.seed, args.workers, regenerate=False)
    scratch = Path(tempfile.mkdtemp(prefix="bench-webhook-", dir=DATA_DIR))
    db = str(scratch / "store.db")
    copy_store(info.path, Path(db))
    secret = new_secret()
    receiver = ReceiverProcess(secret)
    runs: list[Run] = []
    try:
        keep = Keep()
        count, seconds = relay_run(db, keep, "bench-keep")
        runs.append(Run("`Relay.run`, a transport that keeps the messages (no HTTP)", 0, count,
                        seconds))  # fmt: skip
        status(f"{count:,} messages to deliver")
        for concurrency in levels:
            status(f"concurrency {concurrency}: the relay ...")
            runs.append(webhook_run(db, receiver, secret, concurrency))
            status(f"concurrency {concurrency}: raw httpx ...")
            receiver.get("/reset")
            took = asyncio.run(raw_posts(receiver.url, secret_key(secret), keep.messages,
                                         concurrency))  # fmt: skip
            runs.append(Run("raw httpx POSTs, signed, any order (the baseline)", concurrency,
                            len(keep.messages), took))  # fmt: skip
    finally:
        receiver.close()
        shutil.rmtree(scratch, ignore_errors=True)
    report(info.deals, info.events, runs, levels)


def report(deals: int, events: int, runs: list[Run], levels: list[int]) -> None:
    print(
        f"\n{deals:,} deals, {events:,} log positions, {runs[0].messages:,} messages; "
        f"httpx {version('httpx')}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores\n"
    )
    print(f"| path | {' | '.join(f'concurrency {c}' for c in levels)} |")
    print(f"|---|{'---:|' * len(levels)}")
    keep = runs[0]
    print(f"| {keep.path} | {keep.rate:,.0f} (any) |" + " |" * (len(levels) - 1))
    for path in dict.fromkeys(r.path for r in runs[1:]):
        rates = {r.concurrency: r.rate for r in runs if r.path == path}
        print(f"| {path} | " + " | ".join(f"{rates[c]:,.0f}" for c in levels) + " |")
    print("\nFigures in deliveries/s. Relay / baseline: ", end="")
    ratios = []
    for c in levels:
        relay = next(r.rate for r in runs[1:] if r.concurrency == c and "Relay" in r.path)
        raw = next(r.rate for r in runs if r.concurrency == c and "raw" in r.path)
        ratios.append(f"{relay / raw:.2f}x at {c}")
    print(", ".join(ratios) + ".")


if __name__ == "__main__":
    main()
