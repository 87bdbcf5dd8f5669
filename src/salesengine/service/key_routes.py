"""Routes ending in a key that may itself hold ``/`` (deals' and accounts' keys), matched
on the path as the client sent it rather than as decoded.

A key is one URL-encoded path segment: ``ACME/17`` is sent as ``ACME%2F17``. An encoded
``/`` is always part of the key; a literal one is too, except that a trailing literal
``/history`` or ``/chain`` names that document of the key before it. So the account
``Q/history`` is read at ``/accounts/Q%2Fhistory`` and its history at
``/accounts/Q%2Fhistory/history``. Matched on the decoded path alone, as routing does,
the two could not be told apart: such a key could not be read at all, and a caller
without the history's permission was refused (403) what it may read."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Scope

KEY = "{key:path}"


class KeyRoute(APIRoute):
    """A route ``PREFIX/{key:path}`` or ``PREFIX/{key:path}/SUFFIX`` whose ``key`` is
    taken from the raw path: the suffix route matches only a literal ``/SUFFIX``, and
    the key is the raw rest, percent-decoded (UTF-8)."""

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.key_suffix = path.partition(KEY)[2].encode()  # b"" or b"/history"

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        raw = scope.get("raw_path")
        if match is Match.NONE or KEY not in self.path or not isinstance(raw, bytes):
            return match, child  # a server without raw_path: the decoded path decides
        prefix = self.path_format.partition("{key}")[0].encode()  # with the router's prefix
        start = raw.find(prefix)
        if start < 0:
            return match, child
        rest = raw[start + len(prefix) :]
        if self.key_suffix:
            if not rest.endswith(self.key_suffix) or len(rest) == len(self.key_suffix):
                return Match.NONE, {}  # its suffix was encoded: part of the key
            rest = rest[: -len(self.key_suffix)]
        key = unquote_to_bytes(rest).decode("utf-8", errors="replace")
        child["path_params"] = dict(child.get("path_params", {})) | {"key": key}
        return match, child
