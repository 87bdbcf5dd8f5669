"""Ctrl-C (or SIGTERM) during an import: stop between rows, committed, and say so.

The first signal asks the import to stop: it finishes the batch it holds, commits it,
and reports exactly what is in the store. A second one stops at once (the batch being
written is rolled back whole). Either way, importing the same file again completes it:
what is already there is recognised by its command ids and not written twice.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import NoReturn

from salesengine.cli.render import fail

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupt:
    """Whether (and by which signal) the import was asked to stop."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __call__(self) -> bool:
        return self.signal is not None

    @property
    def exit_code(self) -> int:
        return 128 + (self.signal or signal.SIGINT)

    def ask(self, signum: int, _frame: FrameType | None) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt  # asked twice: at once
        self.signal = signum
        # Straight to the file descriptor: a handler must not take the console's lock,
        # which the interrupted code may hold.
        os.write(
            2,
            b"\nstopping: the rows in hand are being committed (Ctrl-C again stops at once)\n",
        )


@contextmanager
def stopping_gently(interrupt: Interrupt) -> Iterator[Interrupt]:
    """While inside, SIGINT and SIGTERM ask ``interrupt`` to stop the import."""
    previous = {signum: signal.signal(signum, interrupt.ask) for signum in SIGNALS}
    try:
        yield interrupt
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


AGAIN = "importing the same file again completes it (what is there is not written twice)"


def stopped_between_rows(file: Path, done: str, interrupt: Interrupt) -> NoReturn:
    """The end of an import stopped by a first signal: how far it got, all committed."""
    fail(
        f"{file}: interrupted after {done}; all of that is committed, and {AGAIN}",
        interrupt.exit_code,
    )


def stopped_at_once(file: Path, interrupt: Interrupt) -> NoReturn:
    """The end of an import stopped by a signal it could not finish the batch for."""
    if interrupt.signal is None:
        # Before any row was taken: the file was still being read and checked.
        fail(f"{file}: interrupted before anything was written", interrupt.exit_code)
    fail(
        f"{file}: interrupted at once: the rows committed before stay, the batch being "
        f"written is rolled back whole, and {AGAIN}",
        interrupt.exit_code,
    )
