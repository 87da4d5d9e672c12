"""Redis down, then back: the API answers 503 with the error envelope (never a plain-text 500), /healthz
stays 200 (the process lives), /readyz says what is unreachable, and everything answers again once Redis
is back. Its own redis-server, stopped and restarted on the same port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from arena.runtime.redis_server import RedisServer
from arena.settings import Settings
from tests.api.conftest import LiveServer


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def test_redis_down_is_a_503_envelope_and_readiness_says_so(own_redis: RedisServer, tmp_path: Path) -> None:
    server = LiveServer(Settings(redis_url=own_redis.url, data_dir=tmp_path / "data")).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert client.get("/readyz").json() == {"status": "ready", "checks": {"redis": "ok", "database": "ok"}}
            assert client.get("/api/v1/tournaments").status_code == 200
            port = own_redis.port
            own_redis.stop()

            down = client.get("/api/v1/tournaments")
            assert down.status_code == 503 and down.headers["retry-after"] == "5"
            assert down.json()["error"]["code"] == "SERVICE_UNAVAILABLE" and "Redis" in down.json()["error"]["message"]
            assert client.get("/healthz").status_code == 200
            ready = client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["error"]["checks"]["database"] == "ok"
            assert ready.json()["error"]["checks"]["redis"].startswith("unreachable")

            own_redis.start(port=port)
            assert client.get("/readyz").status_code == 200
            assert client.get("/api/v1/tournaments").status_code == 200
    finally:
        server.stop()
