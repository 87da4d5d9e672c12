"""Prometheus metrics. Names follow Prometheus conventions (base units, ``_total`` counters); labels
are low-cardinality results and classifications only — never a bot, user or tournament id."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ORDERS = Counter("arena_orders_total", "Orders handled by the engine, by result code.", ["result"])
ORDER_LATENCY = Histogram(
    "arena_order_latency_seconds",
    "From a bot's order or cancel reaching the engine to its first update leaving for the bot (in lockstep, the "
    "wait for the tick's batch included).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
BOTS = Gauge("arena_bots", "Bots of the tournaments this engine worker runs now, by status.", ["status"])
SANDBOX_ENDS = Counter("arena_sandbox_ends_total", "Sandbox runs that ended, by classification.", ["classification"])
LEADERBOARD_UPDATE = Histogram(
    "arena_leaderboard_update_seconds",
    "Time to write one tick's changed scores to the leaderboard.",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05),
)
WEBSOCKET_CLIENTS = Gauge("arena_websocket_clients", "Spectators connected by WebSocket.")
SSE_CLIENTS = Gauge("arena_sse_clients", "Spectators connected by server-sent events.")
SPECTATORS_DROPPED = Counter(
    "arena_spectators_dropped_total", "Spectators whose stream was ended for falling too far behind its updates."
)
SPECTATOR_ENCODES = Counter(
    "arena_spectator_encodes_total",
    "Leaderboard changes encoded for live spectators: once per change per API process, however many watch it.",
)
UPLOADS = Counter("arena_uploads_total", "Bot uploads, by outcome.", ["outcome"])
HTTP_RATE_LIMITED = Counter("arena_http_rate_limited_total", "Requests refused by the rate limit.")
# The production planes: engine workers and bot hosts export these from their own processes.
TICK_DURATION = Histogram(
    "arena_engine_tick_duration_seconds",
    "Wall time of one engine tick, from applying the market to journaling it (lockstep waits included).",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
LAST_TICK = Gauge("arena_engine_last_tick_timestamp_seconds", "Unix time this engine worker last completed a tick.")
RUNNING = Gauge("arena_engine_tournaments_running", "Tournaments this engine worker runs now.")
TAKEOVERS = Counter("arena_takeovers_total", "Tournaments this engine worker took over from a dead engine.")
TAKEOVER_REPLAY = Histogram(
    "arena_takeover_replay_seconds",
    "Time to rebuild a tournament's engine state from its journal on a takeover.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
LEASE_AGE = Gauge("arena_lease_age_seconds", "Seconds since this engine worker last renewed a lease it holds.")
HOST_SLOTS = Gauge("arena_bot_host_slots", "This bot host's sandbox slots, used or free.", ["state"])
HOSTS_LOST = Counter("arena_bot_hosts_lost_total", "Bot hosts an engine found gone (their bots ended host_fault).")
WEBHOOK_BACKLOG = Gauge(
    "arena_webhook_backlog",
    "Webhook deliveries pending (due now or waiting for a retry), as this process's dispatcher last counted them.",
)
