"""Who may read the Prometheus metrics: anyone on the API's port (the default), holders of a bearer token
(``ARENA_METRICS_TOKEN``), or only what can reach a port of their own on 127.0.0.1 (``ARENA_METRICS_PORT``; the
token, when set, is asked there too). The figures carry no per-bot or per-user labels, but counts of sign-ins,
uploads and errors still tell an outsider more than a public site should."""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from arena.api.errors import error_body

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="metrics"'}
REFUSAL = "/metrics needs the bearer token: send Authorization: Bearer <ARENA_METRICS_TOKEN>"


def authorized(header: str | None, token: str | None) -> bool:
    """Whether an Authorization header carries ``token`` (always, when no token is configured)."""
    if not token:
        return True
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a scrape in progress never holds the process's exit


class _Quiet(WSGIRequestHandler):
    def log_message(self, *_args: Any) -> None:  # one line per scrape is noise; the API logs its own requests
        pass


class MetricsServer:
    """/metrics (and nothing else) on 127.0.0.1:``port``, in a daemon thread; ``stop()`` ends it."""

    def __init__(self, port: int, token: str | None) -> None:
        metrics = make_wsgi_app()

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO") != "/metrics":
                return _answer(start_response, "404 Not Found", "NOT_FOUND", "only /metrics is served here")
            if not authorized(environ.get("HTTP_AUTHORIZATION"), token):
                return _answer(start_response, "401 Unauthorized", "UNAUTHENTICATED", REFUSAL, CHALLENGE)
            return metrics(environ, start_response)

        self._server = make_server("127.0.0.1", port, app, server_class=_Server, handler_class=_Quiet)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _answer(start_response: Callable[..., Any], status: str, code: str, message: str,
            headers: dict[str, str] | None = None) -> list[bytes]:  # fmt: skip
    body = json.dumps(error_body(code, message)).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                            *(headers or {}).items()])  # fmt: skip
    return [body]
