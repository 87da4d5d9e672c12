"""Every setting Arena reads from the environment (``ARENA_*``), in one place, via pydantic-settings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

Limit = Annotated[int, Field(ge=0, le=1 << 62)]


class Quotas(BaseModel):
    """What one contestant may hold and do. These are the defaults (``ARENA_QUOTAS='{"bots": 50}'``, JSON);
    an admin may set other values for one contestant (``PATCH /api/v1/admin/contestants/{name}/quotas``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_keys: Limit = Field(10, description="live (unrevoked) API keys")
    bots: Limit = 20
    versions: Limit = Field(200, description="versions over all of the contestant's bots")
    stored_bytes: Limit = Field(1 << 30, description="unpacked bytes over all of the contestant's versions")
    entries_per_tournament: Limit = 3
    uploads_per_hour: Limit = 30
    pending_smoke_tests: Limit = Field(3, description="the contestant's uploads awaiting their verdict")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARENA_", extra="ignore")

    # Where state lives.
    redis_url: str | None = None  # unset: the service uses DEFAULT_REDIS_URL; `arena demo` starts a private server
    database_url: str | None = None  # unset: SQLite at <data_dir>/arena.db
    data_dir: Path = Path("data")  # uploads, replay feeds, the SQLite file

    # Workers.
    bot_slots: int = 8  # sandboxed bots one worker host runs at once
    # Where tournaments and smoke tests run: Celery workers (`arena serve` always), or the calling process's
    # own threads (library use and tests of the HTTP layer).
    tasks: Literal["threads", "celery"] = "threads"
    lease_ttl_s: float = 10.0  # a tournament's engine renews its lease this often x3; twice this unrenewed: failed
    smoke_pool: int = 0  # pre-started sandboxes kept for smoke tests (saves gVisor's boot, ~0.2 s, per upload)
    # Uploads are read and compiled in a quarantined child process: as this user when the API runs as root
    # (a name or a uid; never root), else as the API's own user in a user namespace of its own.
    upload_check_user: str = "nobody"

    # The HTTP service.
    spectator_delay_s: float = 0.0  # spectators see the leaderboard this late, so rivals can't read it live
    heartbeat_s: float = 15.0
    rate_limit: int = 120  # requests per client per window
    rate_window_s: float = 60.0
    redis_connections: int = Field(256, ge=8, le=10_000)  # the requests' Redis pool; a request waits ≤5 s for one
    # Only requests from these addresses (IPs or CIDR networks: a reverse proxy) may name the client in
    # X-Forwarded-For (and X-Forwarded-Proto: https, which makes the session cookie Secure behind a TLS-terminating
    # proxy); from anyone else the headers are ignored, since a client could pick any address.
    trusted_proxies: list[str] = []
    metrics_token: str | None = None  # set: /metrics needs "Authorization: Bearer <token>"
    metrics_port: int | None = None  # set: /metrics is served on 127.0.0.1:<port> only, not on the API's port
    api_docs: bool = True  # /docs, /redoc and /openapi.json; turn off in production if the schema is not public
    json_body_limit: int = 1024 * 1024  # bytes of any non-upload request body (uploads: UploadLimits)
    # Live spectator streams: one Redis reader per watched tournament, so both are capped (503 / close 1013 over).
    stream_max_feeds: int = 64  # tournaments with a live reader at once
    stream_max_per_feed: int = 2_000  # spectators of one tournament
    stream_max_total: int = 10_000  # spectators of all tournaments
    stream_backlog: int = 5_000  # changes a resuming spectator may catch up on in one connection
    # Password sign-ins cost a ~50 ms scrypt each (unknown names too, so timing tells no names apart); besides
    # 10 per name and address per 15 min, an address gets this many per 15 min, and all clients this many a minute.
    signin_per_address: int = 30
    signin_per_minute: int = 300
    quotas: Quotas = Quotas()
    smoke_queue_max: int = 64  # uploads awaiting their smoke test, all contestants (503 SMOKE_QUEUE_FULL beyond)
    webhooks_allow_loopback: bool = False  # development and tests only: lets webhooks call 127.0.0.1 / ::1
    # Webhooks (docs/webhooks.md): the ports a URL may name; networks refused besides the built-in ones (e.g.
    # this host's public address where NAT keeps it off its interfaces); one attempt's deadline, all told;
    # attempts in flight to one endpoint; the secrets' Fernet keys, newest first (none: a key file in data_dir).
    webhooks_allowed_ports: str = "80,443,8080-8443"
    webhooks_denied_networks: list[str] = []
    webhooks_attempt_timeout_s: float = 10.0
    webhooks_per_endpoint: int = 2
    webhooks_secret_keys: str = ""
    # Achievements (docs/ratings.md): a single fill above this notional (qty x price x multiplier) earns "Whale".
    whale_notional: float = Field(100_000.0, gt=0)

    @property
    def redis(self) -> str:
        return self.redis_url or DEFAULT_REDIS_URL

    @property
    def database(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'arena.db').resolve()}"


def settings() -> Settings:
    return Settings()
