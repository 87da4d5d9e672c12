"""A cap on request bodies, enforced while they stream in: 413 BODY_TOO_LARGE with the error envelope.

A declared Content-Length over the cap is refused before a byte of the body is read; a chunked body is
counted as it arrives and cut off at the cap, so no route ever holds more than its cap in memory or on disk.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arena.api.errors import error_body
from arena.uploads.limits import size_text

MULTIPART_OVERHEAD = 64 * 1024  # part headers and boundaries around an uploaded file


@dataclass(frozen=True)
class RouteLimit:
    method: str
    path: re.Pattern[str]
    max_bytes: int


class BodyLimit:
    """ASGI middleware: the first matching ``RouteLimit`` caps a request's body, else ``default_bytes``."""

    def __init__(self, app: ASGIApp, routes: list[RouteLimit], default_bytes: int) -> None:
        self.app, self.routes, self.default_bytes = app, routes, default_bytes

    def limit(self, scope: Scope) -> int:
        for route in self.routes:
            if scope["method"] == route.method and route.path.fullmatch(scope["path"]):
                return route.max_bytes
        return self.default_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        received, exceeded, answered = 0, False, False

        async def counted() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise HTTPException(413)  # stops whoever reads; their answer is replaced below
            return message

        async def guarded(message: Message) -> None:
            nonlocal answered
            if exceeded and not answered:
                return  # the app's answer to a body cut short (a parse error, say) gives way to the 413
            answered = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not exceeded or answered:
                raise
        if exceeded and not answered:
            await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps(error_body("BODY_TOO_LARGE", f"the request body is over {size_text(limit)}"))
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"connection", b"close")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body.encode()})
