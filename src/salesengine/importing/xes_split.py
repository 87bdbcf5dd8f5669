"""An XES log split by place among import workers, each parsing one run of whole traces.

Each worker parses the log's header and about an equal part of what follows it, cut
where a trace starts; the workers then compare notes (``agree``), and the split stands
only if the parts together read exactly as the whole file does (docs/importing.md).
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path
from xml.parsers import expat

from salesengine.importing.common.errors import SourceError
from salesengine.importing.common.file_size import unpacked_size
from salesengine.importing.common.sharing import Share
from salesengine.importing.xes_parser import Parser, Trace, open_log

# A trace's start tag. Past the log's header, a file is split only if no comment, CDATA
# section or processing instruction ("<!", "<?") could hide one.
_TRACE_TAG = re.compile(rb"<trace[\s>/]")


# What a worker tells the others of its part: its events, its trace names, and the
# size and CRC-32 of the file it read (all must have read the same file).
Summary = tuple[int, frozenset[str], int, int]


def agree(summaries: list[Summary | None]) -> list[int] | None:
    """Whether the workers' parts stand, judged once for all (by ``run_workers``): each
    part's events if so, None if not.

    They stand if every part parsed, all were cut from the same file, and each trace name
    is in one part only: a name in two parts would be one deal written by two workers, in
    an order a single reading would not give.
    """
    parts = [s for s in summaries if s is not None]
    if len(parts) < len(summaries) or len({(size, crc) for _, _, size, crc in parts}) > 1:
        return None
    names = [n for _, n, _, _ in parts]
    if sum(map(len, names)) != len(frozenset().union(*names)):
        return None
    return [rows for rows, _, _, _ in parts]


def read_part(
    path: Path, trace_id: str, share: Share, max_bytes: int
) -> tuple[list[Trace], Summary] | None:
    """This worker's traces of a split by place, and its summary; None if the file (up
    to ``max_bytes`` unpacked) cannot be split, or the part may not be exactly what the
    whole file holds there (the whole reading then says why). Why the checks suffice:
    docs/importing.md, "Splitting a log by place"."""
    data = _unpacked(path, max_bytes)
    if data is None:
        return None
    bounds = _split(data, share.parts)
    if bounds is None:
        return None
    start, end = bounds[share.part], bounds[share.part + 1]
    view = memoryview(data)
    state = Parser(path, trace_id, collect=True)
    parser = state.parser
    try:
        parser.Parse(view[: bounds[0]], False)
        if state.depth != 1 or not _closes(view[: bounds[0]], state.root):
            return None
        final = end == len(data)
        if start < end:
            parser.Parse(view[start:end], final)
        if not final:
            parser.Parse(f"</{state.root}>".encode(), True)
    except (expat.ExpatError, SourceError):
        return None
    names = frozenset(trace.name for trace in state.done)
    return state.done, (state.rows, names, len(data), zlib.crc32(data))


def _closes(header: memoryview, root: str) -> bool:
    """Whether the log can be closed right after ``header``: nothing is left open but it."""
    probe = expat.ParserCreate()
    try:
        probe.Parse(header, False)
        probe.Parse(f"</{root}>".encode(), True)
    except expat.ExpatError:
        return False
    return True


def _unpacked(path: Path, max_bytes: int) -> bytes | None:
    """The whole log, unpacked, if it is small enough to split (None if not readable:
    the whole reading then says why)."""
    try:
        if unpacked_size(path) > max_bytes:
            return None
        raw, handle = open_log(path)
    except (OSError, SourceError):
        return None
    try:
        data = handle.read(max_bytes + 1)
    except (EOFError, OSError, zlib.error):
        return None
    finally:
        handle.close()
        raw.close()
    return data if len(data) <= max_bytes else None


def _split(data: bytes, parts: int) -> list[int] | None:
    """Where each part begins (and the file's end): the first trace at or after an equal
    share of what follows the header. None if a trace tag might not be one."""
    first = _TRACE_TAG.search(data)
    if first is None:
        return None
    header = first.start()
    if data.find(b"<!", header) != -1 or data.find(b"<?", header) != -1:
        return None
    body = len(data) - header
    bounds = [header]
    for part in range(1, parts):
        found = _TRACE_TAG.search(data, max(bounds[-1], header + body * part // parts))
        bounds.append(len(data) if found is None else found.start())
    bounds.append(len(data))
    return bounds
