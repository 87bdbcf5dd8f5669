"""The source formats ``salesengine import --format`` reads, each a module with a
``read(path, mapping, policy)`` that yields the file's commands and skipped rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from salesengine.importing.common.formats import FORMATS, SHAREABLE
from salesengine.importing.common.items import SourceItem
from salesengine.importing.common.sharing import Meet, Share, SharedRead

if TYPE_CHECKING:
    from salesengine.application.ports import PolicySource


class Reader(Protocol):
    """A file's commands and skipped rows. ``catalog`` is the engine's policies (with
    the user's directories): the mapping is checked against the policy it names."""

    def __call__(
        self,
        path: Path,
        mapping: str | None,
        policy: str | None,
        *,
        catalog: PolicySource | None = None,
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
        catalog: PolicySource | None = None,
    ) -> SharedRead: ...


def reader(fmt: str) -> Reader:
    module = import_module(f"salesengine.importing.{FORMATS[fmt]}")
    read: Reader = module.read
    return read


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
