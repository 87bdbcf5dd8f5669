"""The service benchmark's funnel reader, run in a process of its own: the funnel asked
for at each (T, K) pair in turn, back to back or at a rate, until the writers are done.
Apart from the writers, so that the time it measures is never time spent waiting for
their client work in a shared event loop."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from time import perf_counter

from http_load import Connection, TransportError

API = "/api/v1"


@dataclass
class Read:
    latencies: list[float] = field(default_factory=list)  # ms of each 200 answer
    errors: Counter[str] = field(default_factory=Counter)
    behind: list[int] = field(default_factory=list)  # X-Read-Models-Behind of each answer
    cpu: float = 0.0  # CPU seconds this process spent reading


def run(
    base: str,
    token: str,
    pairs: list[dict[str, str]],
    done: Event,
    out: Queue[object],
    rate: float = 0.0,
) -> None:
    """Started by the benchmark: says it is ready (``True``), reads until ``done``, then
    puts what it read. ``rate``: requests a second, on a schedule (a request that is
    late goes at once); 0: back to back."""
    out.put(asyncio.run(_read(base, token, pairs, done, out, rate)))


async def _read(
    base: str,
    token: str,
    pairs: list[dict[str, str]],
    done: Event,
    out: Queue[object],
    rate: float,
) -> Read:
    read = Read()
    http = Connection(base, token)
    try:
        await http.get(f"{API}/reports/funnel", pairs[0])  # untimed: opens the connection
        out.put(True)
        cpu = time.process_time()
        began = perf_counter()
        n = 0
        while not done.is_set():
            # At a rate, a request is timed from when it was due: one sent late, behind a
            # slow answer, counts its wait (timing from the send would hide it).
            started = began + n / rate if rate > 0 else perf_counter()
            wait = started - perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
                continue  # the writers may have finished meanwhile
            params = pairs[n % len(pairs)]
            n += 1
            try:
                answer = await http.get(f"{API}/reports/funnel", params)
            except TransportError as e:
                read.errors[f"error {type(e).__name__}"] += 1
                continue
            if answer.status != 200:
                read.errors[str(answer.status)] += 1
                continue
            read.latencies.append((perf_counter() - started) * 1000)
            read.behind.append(int(answer.headers.get("x-read-models-behind", "-1")))
        read.cpu = time.process_time() - cpu
    finally:
        await http.close()
    return read
