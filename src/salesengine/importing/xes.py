"""XES event logs (IEEE 1849), gzip-compressed or plain: one trace becomes one deal.

The entry of the format: a mapping (``xes_mapping``) says what each activity becomes;
the file is parsed one trace at a time (``xes_parser``) and each trace made into its
deal's commands (``xes_traces``). Nothing is applied before the whole file has been
read, so a broken file raises ``SourceError`` before anything is written. An import
shared among workers is split by place when it can be (``xes_split``), else by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from salesengine.importing.common.allocation import bulk_allocation
from salesengine.importing.common.errors import MappingError
from salesengine.importing.common.items import SourceItem
from salesengine.importing.common.sharing import Meet, Share, SharedRead
from salesengine.importing.xes_mapping import check_policy, load_xes_mapping
from salesengine.importing.xes_parser import Parser, parse
from salesengine.importing.xes_split import agree, read_part
from salesengine.importing.xes_traces import TraceReader

if TYPE_CHECKING:
    from salesengine.policies.catalog import PolicyCatalog

# What ``readers`` takes of the format; ``agree`` judges the workers' split by place.
__all__ = ["BUFFER_ITEMS", "SPLIT_MAX_BYTES", "agree", "check_mapping", "read", "read_shared"]

# About 1 KB each: a log of up to this many commands and skipped events is read once and
# held in memory; a larger one is checked to its end and then read again.
BUFFER_ITEMS = 1_000_000
# A log up to this size unpacked is split by place among workers, each holding it whole
# while it parses its part.
SPLIT_MAX_BYTES = 256 << 20


def _load(
    path: Path, mapping: str | None, policy: str | None, catalog: PolicyCatalog | None
) -> TraceReader:
    if mapping is None:
        raise MappingError(
            f"{path}: an XES log needs --mapping (a shipped one such as bpi2012, or a YAML file)"
        )
    mapping_path, spec = load_xes_mapping(mapping)
    chosen = policy or spec.policy
    if not chosen:
        raise MappingError(
            f"{mapping_path}: field 'policy': missing; name one here or give --policy"
        )
    if catalog is not None:
        check_policy(mapping_path, spec, chosen, catalog)
    return TraceReader(spec, chosen)


def check_mapping(
    path: Path, mapping: str | None, policy: str | None, *, catalog: PolicyCatalog
) -> None:
    """Refuse (MappingError) a mapping the workers would refuse, before any store opens."""
    _load(path, mapping, policy, catalog)


def read(
    path: Path,
    mapping: str | None,
    policy: str | None,
    *,
    share: Share | None = None,
    catalog: PolicyCatalog | None = None,
) -> Iterator[SourceItem]:
    """The log's commands and skipped events (with ``share``, of the traces it owns).

    The whole file is read before the first item is given, so a broken file raises
    ``SourceError`` here, before anything could be written.
    """
    reader = _load(path, mapping, policy, catalog)
    return _read(path, reader, share.owns if share is not None else None)


def _read(
    path: Path, reader: TraceReader, owns: Callable[[str], bool] | None
) -> Iterator[SourceItem]:
    trace_id = reader.m.trace_id
    state = Parser(path, trace_id, collect=True, owns=owns)
    held: list[SourceItem] | None = []
    with bulk_allocation():
        for trace in parse(state):
            if held is not None:
                held.extend(reader.items(trace))
                if len(held) > BUFFER_ITEMS:
                    held = None
                    state.collect = False  # check the rest, then read the file again
    if held is not None:
        return iter(held)
    return _items(path, trace_id, reader, owns)


def _items(
    path: Path, trace_id: str, reader: TraceReader, owns: Callable[[str], bool] | None
) -> Iterator[SourceItem]:
    for trace in parse(Parser(path, trace_id, collect=True, owns=owns)):
        yield from reader.items(trace)


def read_shared(
    path: Path,
    mapping: str | None,
    policy: str | None,
    *,
    share: Share,
    meet: Meet,
    catalog: PolicyCatalog | None = None,
) -> SharedRead:
    """One import worker's share of the log, once every worker has read its own: its
    part of a split by place if the workers' parts stand (``agree``), numbering rows
    after the parts before it; else the traces ``share`` owns of the whole file, read
    with every check of a single reading.
    """
    reader = _load(path, mapping, policy, catalog)
    part = read_part(path, reader.m.trace_id, share, SPLIT_MAX_BYTES)
    rows: list[int] | None = meet(None if part is None else part[1])
    if part is not None and rows is not None:
        traces = part[0]
        offset = sum(rows[: share.part])
        own = rows[share.part]
        total = sum(rows)
        items: list[SourceItem] = []
        with bulk_allocation():
            for trace in traces:
                trace.first_row += offset
                items.extend(reader.items(trace))
        traces.clear()

        def position(row: int) -> int:
            # Progress in whole-file rows, as if every worker went through the file.
            return total if own == 0 else round((row - offset) * total / own)

        return SharedRead(iter(items), position, by="place")
    whole = _read(path, reader, share.owns)
    meet(None)
    return SharedRead(whole)
