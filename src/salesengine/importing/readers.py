"""The source formats ``salesengine import --format`` reads, each a module with a
``read(path, mapping, policy)`` that yields the file's commands and skipped rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib import import_module
from pathlib import Path

from salesengine.importing.sources import SourceItem

Reader = Callable[[Path, str | None, str | None], Iterator[SourceItem]]

# format -> module under salesengine.importing
FORMATS = {"salesforce": "salesforce", "csv": "crm_csv", "xes": "xes"}


def reader(fmt: str) -> Reader:
    module = import_module(f"salesengine.importing.{FORMATS[fmt]}")
    read: Reader = module.read
    return read


def guess_format(path: Path) -> str:
    """From the file name: .jsonl commands, .xes or .xes.gz logs; CSV needs --format."""
    name = path.name.lower()
    if name.endswith((".xes", ".xes.gz")):
        return "xes"
    return "jsonl"
