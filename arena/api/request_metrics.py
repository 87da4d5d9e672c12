"""HTTP request metrics for the API, by route template: ``install(app)`` (prometheus-fastapi-instrumentator).

* ``arena_http_requests_total{method,route,status}``: requests answered, by exact status code.
* ``arena_http_request_duration_seconds{method,route}``: from the request's arrival to the start of its
  response (the headers), so a long-lived stream (SSE) counts the time to open it, not how long it stayed open.

``route`` is the matched route's template (``/api/v1/tournaments/{tournament}``), never the raw path, so a
slug, bot name or id never becomes a label; a request no route matches (a 404, a trailing-slash redirect)
is ``route="unmatched"``. ``/metrics`` itself is not counted. WebSocket connections are not HTTP requests
here (``arena_websocket_clients`` counts them). The metric objects live at module level, so several apps in
one process (the tests) share them instead of registering them twice.
"""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import Counter, Histogram
from prometheus_fastapi_instrumentator import Instrumentator
from prometheus_fastapi_instrumentator.metrics import Info

HTTP_REQUESTS = Counter(
    "arena_http_requests_total", "HTTP requests answered by the API, by route template and status.",
    ["method", "route", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "arena_http_request_duration_seconds",
    "Time from an HTTP request's arrival to the start of its response, by route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

UNMATCHED = "unmatched"
EXCLUDED = ("/metrics",)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_REDIRECTS = frozenset({"301", "302", "307", "308"})


def route_of(info: Info) -> str:
    """The route template the instrumentator resolved, or ``unmatched``.

    The instrumentator names an unmatched request ``none``, except a trailing-slash redirect, which it names
    by its raw path: that one is recognised (no route set in the scope, the raw path, a redirect) and is
    ``unmatched`` too."""
    handler = info.modified_handler
    if handler == "none":
        return UNMATCHED
    scope = info.request.scope
    if scope.get("route") is None and handler == scope.get("path") and info.modified_status in _REDIRECTS:
        return UNMATCHED
    return handler


def record(info: Info) -> None:
    method = info.method if info.method in _METHODS else "OTHER"  # any token is a method: keep the label bounded
    route = route_of(info)
    HTTP_REQUESTS.labels(method, route, info.modified_status).inc()
    # 0.0 when the app raised before starting a response: then the whole time is the latency
    duration = info.modified_duration_without_streaming or info.modified_duration
    HTTP_REQUEST_DURATION.labels(method, route).observe(duration)


def install(app: FastAPI) -> None:
    """Count every HTTP request to ``app``. Call it after the app's other middleware is added, so this one is
    outermost and sees their answers too (429 from the rate limit, 503 while a dependency is down)."""
    instrumentator = Instrumentator(
        should_group_status_codes=False,  # the exact status: 503 and 429 are told apart from other errors
        should_ignore_untemplated=False,
        should_group_untemplated=True,
        excluded_handlers=[f"^{path}$" for path in EXCLUDED],
    )
    instrumentator.add(record).instrument(app)
