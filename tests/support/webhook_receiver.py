"""A webhook receiver for the tests: a real HTTP server, run as its own process.

    python -m tests.support.webhook_receiver --port P --log FILE [--plan FILE]

It answers each POST as its plan says and appends one JSON line per request to the log
(time, status answered, headers, body) before it answers, so the test sees every
attempt, including those that failed. The plan (JSON) holds, all optional:

- ``fail_every``: answer 500 to every n-th request (but those at the positions below);
- ``too_many``: event positions whose first attempt gets 429 with ``Retry-After``
  of ``retry_after`` seconds;
- ``unavailable``: positions whose first attempt gets 503 with ``Retry-After`` as an
  HTTP date ``retry_after`` seconds ahead;
- ``stall``: positions whose first attempt gets no answer for ``stall_seconds``;
- ``refuse``: positions always answered 400 with a JSON error body;
- ``refuse_echo``: positions always answered 400 with an error that quotes the body
  received, as many receivers' validation errors do;
- ``redirect``: positions always answered 308 to the same URL (a moved receiver);
- ``crash_after``: the process dies (``os._exit``), unanswered, on the first request
  from this one on that is not at one of the positions above;
- ``delay``: seconds to wait before answering every request.

A first attempt is the first the log holds, so a restarted receiver keeps to its plan.
"""

from __future__ import annotations

import argparse
import contextlib
import email.utils
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, log: Path, plan: dict[str, Any]) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        # Positions attempted before, by this process or an earlier one.
        self.seen = {
            int(json.loads(json.loads(line)["body"])["position"])
            for line in (log.read_text(encoding="utf-8").splitlines() if log.exists() else ())
        }
        self.log = log.open("a", encoding="utf-8")
        self.plan = plan
        self.lock = threading.Lock()
        self.requests = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as receivers usually are
    server: Receiver

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        plan = self.server.plan
        position = int(json.loads(body)["position"])
        with self.server.lock:
            self.server.requests += 1
            number = self.server.requests
            first = position not in self.server.seen
            self.server.seen.add(position)
        status, headers, answer, stall = 200, {}, b"", 0.0
        retry_after = float(plan.get("retry_after", 1))
        planned = {
            p
            for name in ("refuse", "refuse_echo", "redirect", "too_many", "unavailable", "stall")
            for p in plan.get(name, ())
        }
        if number >= plan.get("crash_after", number + 1) and position not in planned:
            self._note(body, -1)
            os._exit(1)
        if position in plan.get("refuse", ()):
            status, answer = 400, b'{"error": "this event is not wanted here"}'
        elif position in plan.get("refuse_echo", ()):
            status, answer = 400, b'{"error": "cannot take this event", "got": %s}' % body
        elif position in plan.get("redirect", ()):
            status, headers = 308, {"location": self.path}
        elif first and position in plan.get("too_many", ()):
            status, headers = 429, {"retry-after": f"{retry_after:g}"}
        elif first and position in plan.get("unavailable", ()):
            when = email.utils.formatdate(time.time() + retry_after, usegmt=True)
            status, headers = 503, {"retry-after": when}
        elif first and position in plan.get("stall", ()):
            stall = float(plan.get("stall_seconds", 5))
            status = 0  # never answered in time
        elif (
            plan.get("fail_every")
            and number % int(plan["fail_every"]) == 0
            and position not in planned
        ):
            status, answer = 500, b"try again"
        self._note(body, status)
        time.sleep(float(plan.get("delay", 0)) + stall)
        with contextlib.suppress(OSError):  # a stalled request's client has gone
            self.send_response(status or 200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    def _note(self, body: bytes, status: int) -> None:
        line = {
            "at": time.time(),
            "status": status,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8"),
        }
        with self.server.lock:
            self.server.log.write(json.dumps(line) + "\n")
            self.server.log.flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--plan", type=Path)
    args = parser.parse_args()
    plan = json.loads(args.plan.read_text()) if args.plan else {}
    Receiver(args.port, args.log, plan).serve_forever()


if __name__ == "__main__":
    main()
