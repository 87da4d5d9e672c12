"""Behind a TLS-terminating reverse proxy the app is spoken to in plain HTTP: a request a trusted proxy
(``ARENA_TRUSTED_PROXIES``) forwards with ``X-Forwarded-Proto: https`` is an https request to the app, so the
session cookie is marked ``Secure`` and links name https. From anyone else the header is ignored (a client
could claim https and get a cookie a later plain-HTTP request would carry). Only the scheme is taken here; the
client's address is ``client_address``'s business.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from arena.api.client_address import _trusted

_SECURE = {"http": "https", "websocket": "wss"}


def forwarded_https(scope: Scope, trusted_proxies: tuple[str, ...]) -> bool:
    """Whether a trusted proxy says the client reached it over https (the nearest proxy's value: the last one)."""
    client = scope.get("client")
    if not trusted_proxies or not client or not _trusted(client[0], trusted_proxies):
        return False
    values = [v for name, v in scope.get("headers", ()) if name == b"x-forwarded-proto"]
    last = values[-1].decode("latin-1").rsplit(",", 1)[-1].strip().lower() if values else ""
    return last in ("https", "wss")


class ForwardedProto:
    """ASGI middleware: the scheme a trusted proxy forwards (https / wss) becomes the request's."""

    def __init__(self, app: ASGIApp, trusted_proxies: list[str]) -> None:
        self.app, self.trusted = app, tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in _SECURE and forwarded_https(scope, self.trusted):
            scope = {**scope, "scheme": _SECURE[scope["type"]]}
        await self.app(scope, receive, send)
