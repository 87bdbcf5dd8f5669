"""Rendering results for people (rich tables) and machines (JSON)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID

from salesengine.application.json_form import jsonable

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def error(message: str) -> None:
    """One clear line on stderr; the message is text, never markup."""
    err.print(f"[red]error:[/] {escape(message)}")


def fail(message: str, code: int = 2) -> NoReturn:
    """Say what went wrong (as ``error`` does) and end the command with exit status
    ``code``: by default 2, for input or a place the command cannot take."""
    error(message)
    raise typer.Exit(code) from None


def warn(message: str) -> None:
    """One line on stderr about a result that may not be what was meant."""
    err.print(f"[yellow]warning:[/] {escape(message)}")


def note(message: str) -> None:
    """One line on stderr about how a result was reached (a stand-in, a fallback)."""
    err.print(f"[yellow]note:[/] {escape(message)}")


def say(message: str) -> None:
    out.print(escape(message))


def print_json(value: Any) -> None:
    # Plain print: rich would re-wrap long lines and break machine readers.
    print(json.dumps(jsonable(value), ensure_ascii=False, indent=2))


def money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def short_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def to_the_second(times: Iterable[datetime]) -> Callable[[datetime], str]:
    """How to show each of these instants, in UTC: to the second, and with the fraction
    where another of them falls in the same second, so that an instant between any two
    of them (a "known at K" between two writes) can be read off."""
    seconds: dict[datetime, set[datetime]] = {}
    for value in times:
        moment = value.astimezone(UTC)
        seconds.setdefault(moment.replace(microsecond=0), set()).add(moment)
    shared = {second for second, found in seconds.items() if len(found) > 1}

    def show(value: datetime) -> str:
        moment = value.astimezone(UTC)
        text = moment.strftime("%Y-%m-%d %H:%M:%S")
        return text + f".{moment.microsecond:06d}" * (moment.replace(microsecond=0) in shared)

    return show


def when(value: datetime | None) -> str:
    return "" if value is None else value.isoformat(timespec="seconds")


def throttled(
    progress: Progress, task: TaskID, *, every: int, unit: str, redraw: bool = False
) -> Callable[[int], None]:
    """A callback of items done that moves the bar, with the rate, every ``every`` items:
    redrawing on every item would cost more than the work it reports. ``redraw``: draw on
    every call too, for a display without its refresh thread whose caller reports a few
    times a second."""
    started = time.perf_counter()
    shown = 0

    def advance(done: int) -> None:
        nonlocal shown
        if done - shown >= every:
            shown = done
            seconds = (time.perf_counter() - started) or 1e-9
            progress.update(task, completed=done, rate=f"{done / seconds:,.0f} {unit}/s")
        if redraw:
            progress.refresh()

    return advance
