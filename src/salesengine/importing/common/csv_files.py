"""CSV files of the CRM exports: the header, the records and their places, read strictly."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from salesengine.importing.common.errors import SourceError
from salesengine.importing.common.items import Rejected


def read_header(path: Path, *, encoding: str, delimiter: str) -> list[str]:
    """The column names of a CSV file (a byte order mark is dropped)."""
    try:
        with path.open(encoding=encoding, newline="") as handle:
            header = next(csv.reader(handle, delimiter=delimiter, strict=True), None)
    except OSError as e:
        raise SourceError(f"{path}: cannot read the file: {e.strerror or e}") from None
    except LookupError:
        raise SourceError(f"{path}: the mapping's encoding {encoding!r} is not known") from None
    except UnicodeDecodeError as e:
        raise not_text(path, encoding, e) from None
    except csv.Error as e:
        raise SourceError(f"{path}: line 1: not a CSV header: {e}") from None
    if not header:
        raise SourceError(f"{path}: empty file: no header line")
    return [name.strip() for name in header]


def not_text(path: Path, encoding: str, error: UnicodeDecodeError) -> SourceError:
    """The decoding error, at the line that holds the bad bytes: the text reader decodes
    ahead in blocks, so where it stopped says little."""
    try:
        if not "a\n".encode(encoding).endswith(b"a\n"):  # lines by bytes: ASCII-like only
            raise LookupError(encoding)
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    raw.decode(encoding)
                except UnicodeDecodeError as e:
                    return SourceError(
                        f"{path}: line {number}, byte {e.start + 1}: not {encoding} text "
                        f"({e.reason})"
                    )
    except (OSError, LookupError):
        pass
    return SourceError(f"{path}: not {encoding} text ({error.reason})")


def require_columns(path: Path, header: list[str], needed: dict[str, str]) -> None:
    """Fail, naming the file and each missing column, unless every needed column is there.

    ``needed`` maps a column to what the mapping uses it for."""
    missing = [f"'{column}' ({use})" for column, use in needed.items() if column not in header]
    if missing:
        raise SourceError(
            f"{path}: line 1: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}; the header has {', '.join(header)}"
        )
    # A column the mapping reads must say one thing: with two, either value could be meant.
    for column, use in needed.items():
        places = [str(n) for n, name in enumerate(header, start=1) if name == column]
        if len(places) > 1:
            raise SourceError(
                f"{path}: line 1: column '{column}' ({use}) appears {len(places)} times "
                f"(columns {', '.join(places)}); keep one"
            )


def misfit(line: int, record: list[str], header: list[str]) -> Rejected:
    """A record with more or fewer fields than the header (a cut-off or shifted line):
    refused whole, as nothing says which value belongs to which column."""
    return Rejected(
        f"line {line}",
        f"{len(record)} fields where the header has {len(header)}; the record is not read",
        line,
    )


def read_records(path: Path, *, encoding: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Each data record with the physical line it starts on (1 is the header's)."""
    line = 0
    try:
        with path.open(encoding=encoding, newline="") as handle:
            # strict: a stray quote is an error, not a field running to the end of file
            reader = csv.reader(handle, delimiter=delimiter, strict=True)
            for number, record in enumerate(reader):
                start, line = line + 1, reader.line_num
                if number == 0 or not record:
                    continue
                yield start, record
    except OSError as e:
        raise SourceError(f"{path}: cannot read the file: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise not_text(path, encoding, e) from None
    except csv.Error as e:
        raise SourceError(f"{path}: line {line + 1}: {e}") from None
