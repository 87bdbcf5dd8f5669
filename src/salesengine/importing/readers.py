"""The source formats ``salesengine import --format`` reads, each a module with a
``read(path, mapping, policy)`` that yields the file's commands and skipped rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from salesengine.importing.common.csv_files import read_header
from salesengine.importing.common.errors import SourceError
from salesengine.importing.common.formats import FORMATS, SHAREABLE
from salesengine.importing.common.items import SourceItem
from salesengine.importing.common.mapping_files import read_mapping
from salesengine.importing.common.sharing import Meet, Share, SharedRead

if TYPE_CHECKING:
    from salesengine.policies.catalog import PolicyCatalog


class Reader(Protocol):
    """A file's commands and skipped rows. ``catalog`` is the engine's policies (with
    the user's directories): the mapping is checked against the policy it names."""

    def __call__(
        self,
        path: Path,
        mapping: str | None,
        policy: str | None,
        *,
        catalog: PolicyCatalog | None = None,
    ) -> Iterator[SourceItem]: ...


class SharedReader(Protocol):
    """One import worker's share of the file's deals; the worker meets the others once
    the whole file is checked, before it gives its first item."""

    def __call__(
        self,
        path: Path,
        mapping: str | None,
        policy: str | None,
        *,
        share: Share,
        meet: Meet,
        catalog: PolicyCatalog | None = None,
    ) -> SharedRead: ...


def reader(fmt: str) -> Reader:
    module = import_module(f"salesengine.importing.{FORMATS[fmt]}")
    read: Reader = module.read
    return read


def guess_format(path: Path, mapping: str | None = None) -> str:
    """The format of a file imported without ``--format``.

    .xes and .xes.gz files are event logs. A .csv file is a CRM export: the format its
    mapping declares, else a Salesforce export when its header has Salesforce's
    OpportunityId column, else (with a mapping) a generic CRM export. Any other file is
    JSON Lines commands.
    """
    name = path.name.lower()
    if name.endswith((".xes", ".xes.gz")):
        return "xes"
    if not name.endswith(".csv"):
        return "jsonl"
    declared = read_mapping(mapping)[1].get("format") if mapping is not None else None
    if declared is not None:
        # A mapping for xes, or for no format known, is refused on its format field by
        # the csv reader.
        return "salesforce" if declared == "salesforce" else "csv"
    try:
        # Salesforce's export settings, which its shipped mapping reads with.
        header = read_header(path, encoding="utf-8-sig", delimiter=",")
    except SourceError:
        if mapping is None:
            raise
        header = []  # not Salesforce's: the mapping's own encoding or delimiter reads it
    if "OpportunityId" in header:
        return "salesforce"
    if mapping is not None:
        return "csv"
    raise SourceError(
        f"{path}: a CSV file needs --format: csv with --mapping MAP for a CRM export "
        "(shipped: maven), or salesforce for an OpportunityHistory or "
        "OpportunityFieldHistory export"
    )


def _shared(fmt: str) -> ModuleType:
    if fmt not in SHAREABLE:
        raise ValueError(f"a {fmt} import cannot be shared among workers")
    return import_module(f"salesengine.importing.{FORMATS[fmt]}")


def shared_reader(fmt: str) -> SharedReader:
    read: SharedReader = _shared(fmt).read_shared
    return read


def shared_agreement(fmt: str) -> Callable[[list[Any]], Any]:
    """How the workers' meeting judges what each read (run in the parent, once)."""
    agree: Callable[[list[Any]], Any] = _shared(fmt).agree
    return agree


def shared_check(fmt: str) -> Callable[..., None]:
    """Checks a shareable format's mapping against the policies before workers start:
    ``(path, mapping, policy, *, catalog)``, raising a MappingError."""
    check: Callable[..., None] = _shared(fmt).check_mapping
    return check
