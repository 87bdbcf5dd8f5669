"""What a source reader yields for each row: commands, or why the row makes none."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Source items are not frozen dataclasses, though nothing changes them: an import makes
# one per row, and a frozen dataclass's __init__ costs four times as much.


@dataclass(slots=True)
class SourceCommand:
    """One command made from a source row."""

    where: str  # for people: "line 12", "trace 173688, event 4"
    source_id: str  # the row's own id in the source, e.g. an OpportunityHistory Id
    command: dict[str, Any]  # the command language's fields; "id" is set on import
    row: int  # the source row it came from (1-based), for progress and counts
    provenance: dict[str, str] = field(default_factory=dict)  # extra: "trace", "line"
    # Applied on its own, not whole with its row's other commands: a value the row's
    # main change can do without (a close date beside an opening, say).
    alone: bool = False
    # Refused as it stands: the reader knows why (a date it cannot read, a local time
    # the clocks skipped), and the row is refused with this reason.
    refusal: str | None = None
    # The source column each field came from ({"at": "close_date"}): a refusal names the
    # column beside the field.
    columns: dict[str, str] | None = None


@dataclass(slots=True)
class Skipped:
    """A source row that makes no command, and why."""

    where: str
    reason: str
    row: int


@dataclass(slots=True)
class Rejected:
    """A source row refused as it stands, before any command (a record with the wrong
    number of fields, a second trace of one name): reported refused, nothing written."""

    where: str
    reason: str
    row: int


@dataclass(slots=True)
class Noted:
    """Something the report should say of a row whose commands still apply: what the
    source cannot tell (e.g. a stage at creation a field history does not hold)."""

    where: str
    note: str
    row: int


SourceItem = SourceCommand | Skipped | Rejected | Noted
