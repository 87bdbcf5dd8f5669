"""Names and text in the command language, checked without pydantic so that the command
line can hold its global options to the same rules before anything heavy is imported."""

from __future__ import annotations

import re
import unicodedata

NAME_MAX = 200  # characters in a name (deal key, owner, actor, ...)

_CONTROL_OR_SURROGATE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def unicode_text(value: str) -> str:
    if value.isascii():  # the common case; only non-ASCII text can hold a lone surrogate
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def clean_name(value: str) -> str:
    if value.isascii():
        # Printable ASCII has no control characters and is already in NFC.
        if value.isprintable():
            return value
        raise ValueError("must not contain control characters")
    if _CONTROL_OR_SURROGATE.search(value):
        unicode_text(value)
        raise ValueError("must not contain control characters")
    # Visually identical keys must name the same deal.
    return unicodedata.normalize("NFC", value)


def checked_name(value: str) -> str:
    """A name as the language's ``Name`` type takes it: stripped, 1 to 200 characters."""
    name = value.strip()
    if not name:
        raise ValueError("must not be empty")
    if len(name) > NAME_MAX:
        raise ValueError(f"must have at most {NAME_MAX} characters")
    return clean_name(name)
