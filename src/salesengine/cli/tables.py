"""Tables for people that never cut a number or a key, whatever the terminal's width.

Rich shrinks a table that is too wide for the console by cutting cells short with an
ellipsis, numbers and deal keys included (``6,974,00…``). Here the widths are chosen
before rich sees the table: numbers and keys keep their full width, text columns wrap
(at spaces, never losing a character), and a table that still does not fit is drawn
without its vertical rules (two spaces, then one between columns), then as one record
per block of ``header  value`` lines.
Piped output is 80 columns wide unless ``COLUMNS`` says otherwise.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

from salesengine.cli.render import out

Kind = Literal["key", "number", "text"]
Style = Literal["boxed", "compact", "tight"]
STYLES: tuple[Style, ...] = ("boxed", "compact", "tight")


@dataclass(frozen=True, slots=True)
class Col:
    """A column: ``key`` and ``number`` cells are never cut or wrapped (numbers are
    right-aligned); ``text`` cells wrap."""

    header: str
    kind: Kind = "key"


def key(header: str) -> Col:
    return Col(header, "key")


def number(header: str) -> Col:
    return Col(header, "number")


def text(header: str) -> Col:
    return Col(header, "text")


@dataclass
class Grid:
    """Rows of plain strings (never read as markup) under a title."""

    columns: Sequence[Col]
    title: str | None = None
    rows: list[tuple[str, ...]] = field(default_factory=list)

    def add(self, *cells: str) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(cells)

    def print(self, console: Console | None = None) -> None:
        show(self, console or out)


def show(grid: Grid, console: Console) -> None:
    """The grid as a table that fits the console, or as blocks when none does."""
    for style in STYLES:
        widths = fit(grid, style, console.width)
        if widths is not None:
            table = _table(grid, style, widths)
            if grid.title is not None and table.title is None:
                _line(console, grid.title)
            console.print(table)
            return
    _blocks(grid, console)


def fit(grid: Grid, style: Style, width: int) -> list[int] | None:
    """Column widths (without padding) for the style within ``width``, or None."""
    n = len(grid.columns)
    room = width - _overhead(style, n)
    least = [_least(grid, i) for i in range(n)]
    if sum(least) > room:
        return None
    widths = [_widest(grid, i) for i in range(n)]
    excess = sum(widths) - room
    # Narrow the widest text column, a character at a time, down to its least width.
    while excess > 0:
        shrinkable = [i for i in range(n) if widths[i] > least[i]]
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
        excess -= 1
    return widths


def _cells(grid: Grid, index: int) -> list[str]:
    return [row[index] for row in grid.rows]


def _words(value: str) -> list[str]:
    return value.split() or [""]


def _widest(grid: Grid, index: int) -> int:
    """The width with nothing wrapped: the longest line of a cell or the header."""
    lines = [line for cell in (grid.columns[index].header, *_cells(grid, index)) for line in
             cell.splitlines() or [""]]  # fmt: skip
    return max(cell_len(line) for line in lines)


def _least(grid: Grid, index: int) -> int:
    """The narrowest the column may be: whole cells for numbers and keys, whole words
    for text; a header wraps between its words."""
    column = grid.columns[index]
    header = max(cell_len(w) for w in _words(column.header))
    cells = _cells(grid, index)
    if column.kind == "text":
        longest = max((cell_len(w) for c in cells for w in _words(c)), default=0)
    else:
        longest = max((cell_len(line) for c in cells for line in c.splitlines()), default=0)
    return max(header, longest, 1)


def _table(grid: Grid, style: Style, widths: Sequence[int]) -> Table:
    columns = [
        Column(
            c.header,
            width=w,
            justify="right" if c.kind == "number" else "left",
            # Never cut: each width holds its whole numbers and keys, and headers wrap.
            overflow="fold",
        )
        for c, w in zip(grid.columns, widths, strict=True)
    ]
    # A title with a word wider than the table would be cut inside it: it goes above.
    title = grid.title
    room = sum(widths) + _overhead(style, len(widths))
    if title is not None and max(cell_len(w) for w in _words(title)) > room:
        title = None
    table = _styled(style, columns, title)
    for row in grid.rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def _line(console: Console, value: str) -> None:
    console.print(Text(value), soft_wrap=True)


def _styled(style: Style, columns: Sequence[Column], title: str | None) -> Table:
    """Rules and two spaces between columns (compact), or one space (tight)."""
    if style == "boxed":
        return Table(*columns, title=title)
    return Table(
        *columns,
        title=title,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=style == "compact",
        padding=(0, 1) if style == "compact" else (0, 0),
    )


@cache
def _overhead(style: Style, n: int) -> int:
    """Characters a table of ``n`` columns adds to their widths: rules and padding,
    measured by drawing one."""
    probe = _styled(style, [Column("", width=1) for _ in range(n)], None)
    probe.add_row(*("x" for _ in range(n)))
    console = Console(width=10_000, file=io.StringIO(), color_system=None)
    with console.capture() as captured:
        console.print(probe)
    return max(cell_len(line) for line in captured.get().splitlines()) - n


def _blocks(grid: Grid, console: Console) -> None:
    """One record per block, ``header  value`` a line; lines are never wrapped."""
    if grid.title is not None:
        _line(console, grid.title)
    label = max((cell_len(c.header) for c in grid.columns), default=0)
    for row in grid.rows:
        console.print()
        for column, cell in zip(grid.columns, row, strict=True):
            pad = " " * (label - cell_len(column.header))
            first, *rest = cell.splitlines() or [""]
            _line(console, f"{column.header}{pad}  {first}".rstrip())
            for line in rest:
                _line(console, f"{' ' * label}  {line}")
