"""A writer for fault tests, run as its own process: ``python -m tests.support.fault_writer
URL FIRST LAST``. It applies batch after batch, each all or nothing
(``execute_all``), prints ``ack N`` once batch N is committed and projects the read
models every few batches, until LAST or until something kills it. Whatever it printed
as acknowledged must be in the store afterwards, and no batch may be there in part.

Each batch opens two deals, gives them a next step, a visit and amounts, and changes
the amount of a deal of the batch before; every command carries the id ``bN-i``.
"""

from __future__ import annotations

import sys
from typing import Any

from salesengine.application.commands import Command, parse_command

PROJECT_EVERY = 3


def batch(n: int) -> list[Command]:
    a, b = f"W{n}-a", f"W{n}-b"
    fields: list[dict[str, Any]] = [
        {"cmd": "open", "deal": a, "policy": "funnel-list", "owner": f"rep{n % 3}",
         "amount": str(1000 + n)},
        {"cmd": "open", "deal": b, "policy": "funnel-list", "owner": f"rep{n % 2}",
         "amount": str(2000 + n), "team": "East"},
        {"cmd": "next_step", "deal": a, "action": f"call {n}", "due": "2030-01-01"},
        {"cmd": "visit", "deal": b},
        {"cmd": "amount", "deal": b, "amount": str(3000 + n)},
    ]  # fmt: skip
    if n > 0:
        fields.append({"cmd": "amount", "deal": f"W{n - 1}-a", "amount": str(5000 + n)})
    return [parse_command({**f, "id": f"b{n}-{i}"}) for i, f in enumerate(fields)]


def batch_ids(n: int) -> set[str]:
    return {c.id for c in batch(n) if c.id is not None}


def main(url: str, first: int, last: int) -> int:
    from salesengine.application.all_or_nothing import execute_all
    from salesengine.bootstrap import build_engine
    from salesengine.projections.runner import ProjectionRunner
    from salesengine.store.settings import store_settings
    from salesengine.store.sql import sql_engine

    engine = build_engine(url, actor="writer")
    runner = ProjectionRunner(engine, sql_engine(store_settings(url)))
    for n in range(first, last):
        try:
            execute_all(engine, batch(n))
        except Exception as e:  # the fault: say so and stop, as a crashed writer would
            print(f"failed {n} {type(e).__name__}: {e}", flush=True)
            return 3
        print(f"ack {n}", flush=True)
        if n % PROJECT_EVERY == PROJECT_EVERY - 1:
            try:
                runner.catch_up()
            except Exception as e:
                print(f"projection failed after {n} {type(e).__name__}: {e}", flush=True)
                return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
