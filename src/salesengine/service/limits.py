"""What the service reads of a request body before the framework does: JSON only (UTF-8
text, as RFC 8259 has it), and no more than ``max_body`` bytes (counted as it arrives,
so a lying or missing Content-Length cannot get more through)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from salesengine.service.problems import Problem, problem_response

# The only route that reads a body; a body sent anywhere else is left to the router,
# which answers 405 or 404 as for any method or path it does not serve.
_READS_A_BODY = ("POST", "/api/v1/commands")


class BodyLimits:
    def __init__(self, app: ASGIApp, *, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], _route_path(scope)) != _READS_A_BODY:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if kind != b"application/json":
            shown = kind.decode("latin-1") or "none"
            problem = Problem(
                415, "unsupported_media_type", f"Content-Type {shown}: send application/json"
            )
            await problem_response(problem)(scope, receive, send)
            return
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            await problem_response(self._too_large())(scope, receive, send)
            return
        # Read it all here, counting, then hand it on: the framework reads it whole anyway.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await problem_response(self._too_large())(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as e:
            # The framework would answer a bare 400 "error parsing the body"; malformed
            # JSON is a 422 naming the body, and so is this.
            reason = f"not UTF-8 text (byte {e.start}): send JSON encoded as UTF-8"
            invalid = Problem(
                422,
                "invalid_request",
                f"body: {reason}",
                errors=[{"field": "body", "message": reason}],
            )
            await problem_response(invalid)(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _too_large(self) -> Problem:
        return Problem(413, "body_too_large", f"the request body exceeds {self.max_body:,} bytes")


def _route_path(scope: Scope) -> str:
    """The path as the app's routes see it: without the prefix it is served under
    (``--root-path``, or an app mounting this one), which the server puts in ``path``."""
    path: str = scope["path"]
    return path.removeprefix(scope.get("root_path", "")) or "/"
