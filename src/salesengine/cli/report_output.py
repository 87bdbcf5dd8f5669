"""What the report commands' output shares: titles, the key columns of a table, and the
order of chart, JSON and tables."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import typer

from salesengine.cli.render import print_json, say, when
from salesengine.cli.tables import Col, Grid, key


class StageRow(Protocol):
    """A report row of one stage of one policy, in one group when grouped."""

    @property
    def policy(self) -> str: ...
    @property
    def stage(self) -> str: ...
    @property
    def group(self) -> str | None: ...


Row = TypeVar("Row", bound=StageRow)


def print_report(
    *,
    as_json: bool,
    document: Callable[[], Any],
    tables: Callable[[], None],
    chart: Path | None = None,
    draw: Callable[[Path], None] | None = None,
) -> None:
    """A report's output: its chart first, when asked for (``draw`` writes it), then its
    ``document`` as JSON, or its ``tables`` followed by where the chart went."""
    if chart is not None and draw is not None:
        with writing_chart(chart):
            draw(chart)
    if as_json:
        print_json(document())
        return
    tables()
    if chart is not None:
        say(f"chart written to {chart}")


@contextmanager
def writing_chart(chart: Path) -> Iterator[None]:
    """A failed chart write (full disk, no permission) as a clear error, not a traceback."""
    try:
        yield
    except OSError as e:
        raise typer.BadParameter(
            f"cannot write {chart}: {e.strerror or e}", param_hint="--chart"
        ) from None


def known_label(k: datetime | None) -> str:
    """The end of a title of a report known at K (none when all that is recorded)."""
    return f", known at {when(k)}" if k else ""


def as_of_label(t: datetime, k: datetime | None) -> str:
    return f"as of {when(t)}" + known_label(k)


def print_stage_table(
    rows: Sequence[Row],
    by: str | None,
    title: str,
    columns: Sequence[Col],
    figures: Callable[[Row], Sequence[str]],
) -> None:
    """A table of a row per policy, group (when grouped) and stage: those keys first,
    then ``columns``, filled by ``figures`` of each row."""
    keys = [key("policy"), *([key(by)] if by else []), key("stage")]
    table = Grid([*keys, *columns], title=title)
    for r in rows:
        table.add(r.policy, *shown(r.group, by), r.stage, *figures(r))
    table.print()


def shown(group: str | None, by: str | None) -> list[str]:
    """The group's cell, when the report is grouped."""
    return [group or "(none)"] if by else []


def chosen(owner: str | None, team: str | None) -> str:
    """The owner and team a report was kept to, for its title."""
    parts = [f"owner {owner}" if owner is not None else "",
             f"team {team}" if team is not None else ""]  # fmt: skip
    return "".join(f", {p}" for p in parts if p)
