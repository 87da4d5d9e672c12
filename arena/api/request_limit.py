"""The API's rate limit on HTTP requests, as plain ASGI middleware.

Every HTTP request but the service's own (metrics, health, static files) is counted against its client's
bucket (``client_identity``: a verified contestant, else the address) before it reaches a route: 429
RATE_LIMITED over the budget, 401 INVALID_API_KEY for a made-up key (counted first), 503 while Redis is away;
an allowed answer carries the ``RateLimit`` fields. Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``,
which runs every request in a task group of its own with a memory stream for the body: a long-lived server-sent
event stream kept three tasks and about 200 objects alive for that alone, which every connect paid for in CPU
and every full garbage collection in time.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arena.api import client_identity, errors
from arena.metrics import HTTP_RATE_LIMITED

EXEMPT = ("/metrics", "/healthz", "/readyz")


def exempt(path: str) -> bool:
    return path in EXEMPT or path.startswith("/static/")


class RequestLimit:
    """ASGI middleware: each HTTP request is counted, and refused over its client's budget."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        state = scope["app"].state.arena
        refusal: Response | None = None
        try:
            key, invalid = await client_identity.rate_key(connection, state)
            decision = await state.limiter.hit(key)
        except errors.UNAVAILABLE as exc:  # raised here, outside the routes' exception handlers
            refusal = errors.dependency_down(exc)
        else:
            if not decision.allowed:
                HTTP_RATE_LIMITED.inc()
                body = errors.error_body("RATE_LIMITED", f"too many requests; retry in {decision.retry_after_s} s")
                refusal = JSONResponse(body, status_code=429, headers=decision.headers())
            elif invalid:  # refused here, after it was counted: made-up keys spend the address's budget
                body = errors.error_body("INVALID_API_KEY", "that API key is unknown or revoked")
                refusal = JSONResponse(body, status_code=401,
                                       headers={"WWW-Authenticate": "ApiKey", **decision.headers()})  # fmt: skip
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        counted = decision.headers()

        async def send_counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", ()))
                MutableHeaders(scope=message).update(counted)
            await send(message)

        await self.app(scope, receive, send_counted)
