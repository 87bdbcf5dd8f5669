"""The errors of a source that cannot be imported at all."""

from __future__ import annotations


class SourceError(ValueError):
    """A source file that cannot be read at all: names the file, the place and why.

    (A row that can be read but not used is a ``Skipped`` item, not an error.)"""


class MappingError(SourceError):
    """A mapping file that cannot be used: names the file and the field."""
