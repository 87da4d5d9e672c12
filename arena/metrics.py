"""Prometheus metrics. Names follow Prometheus conventions (base units, ``_total`` counters); labels
are low-cardinality results and classifications only — never a bot, user or tournament id."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ORDERS = Counter("arena_orders_total", "Orders handled by the engine, by result code.", ["result"])
ORDER_LATENCY = Histogram(
    "arena_order_latency_seconds",
    "From a bot's order reaching the engine to its first update.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
BOTS = Gauge("arena_bots", "Bots by status.", ["status"])
SANDBOX_ENDS = Counter("arena_sandbox_ends_total", "Sandbox runs that ended, by classification.", ["classification"])
LEADERBOARD_UPDATE = Histogram(
    "arena_leaderboard_update_seconds",
    "Time to write one tick's changed scores to the leaderboard.",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05),
)
WEBSOCKET_CLIENTS = Gauge("arena_websocket_clients", "Spectators connected by WebSocket.")
SSE_CLIENTS = Gauge("arena_sse_clients", "Spectators connected by server-sent events.")
UPLOADS = Counter("arena_uploads_total", "Bot uploads, by outcome.", ["outcome"])
HTTP_RATE_LIMITED = Counter("arena_http_rate_limited_total", "Requests refused by the rate limit.")
