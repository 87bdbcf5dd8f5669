"""What the report commands' text output shares: titles, group cells, chart files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from salesengine.cli.render import when

if TYPE_CHECKING:
    from salesengine.reports.open_deals import Only


@contextmanager
def writing_chart(chart: Path) -> Iterator[None]:
    """A failed chart write (full disk, no permission) as a clear error, not a traceback."""
    try:
        yield
    except OSError as e:
        raise typer.BadParameter(
            f"cannot write {chart}: {e.strerror or e}", param_hint="--chart"
        ) from None


def as_of_label(t: datetime, k: datetime | None) -> str:
    return f"as of {when(t)}" + (f", known at {when(k)}" if k else "")


def shown(group: str | None, by: str | None) -> list[str]:
    """The group's cell, when the report is grouped."""
    return [group or "(none)"] if by else []


def chosen(only: Only) -> str:
    """The owner and team a report was kept to, for its title."""
    parts = [f"owner {only.owner}" if only.owner is not None else "",
             f"team {only.team}" if only.team is not None else ""]  # fmt: skip
    return "".join(f", {p}" for p in parts if p)
