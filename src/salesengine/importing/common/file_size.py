"""How large a source file is once unpacked, and roughly how many rows it holds."""

from __future__ import annotations

import struct
from pathlib import Path

# Unpacked bytes per row of a shareable format: an XES event with its attributes
# (BPI Challenge 2012: 283).
BYTES_PER_ROW = 280
GZIP_MAGIC = b"\x1f\x8b"


def unpacked_size(path: Path) -> int:
    """The file's size once unpacked: a gzip file's trailer says it (modulo 4 GiB)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        if handle.read(2) != GZIP_MAGIC or size < 4:
            return size
        handle.seek(-4, 2)  # gzip's trailer: the unpacked size modulo 4 GiB
        unpacked: int = struct.unpack("<I", handle.read(4))[0]
    return max(unpacked, size)


def estimated_rows(path: Path) -> int:
    """Roughly how many rows a file holds, from its (unpacked) size, to choose workers."""
    return unpacked_size(path) // BYTES_PER_ROW
