"""Stopping an import between rows, with what was done committed and counted.

An interrupted import must say how far it got. Outcomes reach the report only once
their batch is committed, so an import that stops taking rows, and lets the engine
save the batch it holds, ends with a report of exactly what is in the store. It stops
between source rows, never inside one: a row's commands apply whole or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")

# Asked between rows: has the import been asked to stop?
Stopped = Callable[[], bool]


def until_stopped(
    items: Iterable[Item],
    stopped: Stopped | None,
    row_of: Callable[[Item], int],
    on_stop: Callable[[], None],
) -> Iterator[Item]:
    """The items, until ``stopped()`` before the first item of a new row; then
    ``on_stop()`` and no more. The item that showed the new row is dropped unread."""
    if stopped is None:
        yield from items
        return
    last: int | None = None
    for item in items:
        row = row_of(item)
        if row != last and stopped():
            on_stop()
            return
        last = row
        yield item
