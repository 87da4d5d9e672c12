"""A Redis that requires a password (``requirepass``) or an ACL user: Arena works with the credentials in the URL
(the API, its hub and rate limiter, Celery's broker and result backend, the workers' connections) and refuses a
missing or wrong one with REDIS_AUTH, never printing the password. Real redis-server and uvicorn."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from typer.testing import CliRunner

from arena.cli import app as cli
from arena.runtime.connection import RedisRefused, check, connect, redacted
from arena.runtime.leaderboard import Leaderboard, LeaderboardKeys, LeaderboardPublisher
from arena.runtime.redis_server import RedisServer
from arena.service import tasks
from arena.settings import Settings
from tests.api.conftest import LiveServer, open_tournament

PASSWORD = "Zx9-requirepass-secret"
ACL_PASSWORD = "acl-user-secret-42"


@pytest.fixture(scope="module")
def locked() -> Iterator[RedisServer]:
    """A redis-server with requirepass, and an ACL user ``arena`` beside the default user."""
    with RedisServer(password=PASSWORD) as server:
        client = redis.Redis.from_url(server.url)
        client.execute_command("ACL", "SETUSER", "arena", "on", f">{ACL_PASSWORD}", "~*", "&*", "+@all")
        client.close()
        yield server


def with_auth(server: RedisServer, auth: str) -> str:
    return f"redis://{auth}127.0.0.1:{server.port}/0"


def good_urls(server: RedisServer) -> dict[str, str]:
    return {"requirepass": server.url, "acl user": with_auth(server, f"arena:{ACL_PASSWORD}@")}


def bad_urls(server: RedisServer) -> dict[str, str]:
    return {"no password": with_auth(server, ""), "wrong password": with_auth(server, ":not-it@"),
            "wrong user": with_auth(server, f"nobody:{ACL_PASSWORD}@")}  # fmt: skip


def serve(url: str, tmp_path: Path, **overrides: object) -> LiveServer:
    return LiveServer(Settings(redis_url=url, data_dir=tmp_path, **overrides)).start()  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["requirepass", "acl user"])
def test_arena_works_with_the_credentials_in_the_url(locked, kind, tmp_path) -> None:
    url = good_urls(locked)[kind]
    check(url)
    assert connect(url, patience_s=1).ping()  # engine workers' and bot hosts' connections
    tasks.configure(url)  # Celery: the broker (kombu) and the result backend both log in
    with tasks.app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1)
    assert tasks.app.backend.client.ping()
    client = redis.Redis.from_url(url)
    client.delete(*LeaderboardKeys.for_tournament("cup").all_keys())
    Leaderboard(client, "cup").update({"alice:a": 1.0})
    LeaderboardPublisher(client, "cup").changed({"alice:a": 1.0}, ts=1)
    server = serve(url, tmp_path / kind, spectator_delay_s=0.001)  # the hub's own pool serves delayed boards
    try:
        open_tournament(server, "cup")
        assert httpx.get(f"{server.url}/readyz", timeout=10).json()["checks"]["redis"] == "ok"
        deadline = time.monotonic() + 10
        while (board := httpx.get(f"{server.url}/api/v1/tournaments/cup/leaderboard", timeout=10)).status_code != 200:
            assert time.monotonic() < deadline, board.text
            time.sleep(0.01)  # polling for the change to be 1 ms old, bounded by the deadline
        assert board.json()["items"] == [
            {"rank": 1, "bot": "alice:a", "name": "a", "contestant": "alice", "score": 1.0}]  # fmt: skip
        assert board.headers["ratelimit"].startswith('"default";r=1')  # the rate limiter counted it in Redis
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["no password", "wrong password", "wrong user"])
def test_missing_or_wrong_credentials_are_refused_with_redis_auth(locked, kind, tmp_path) -> None:
    url = bad_urls(locked)[kind]
    with pytest.raises(RedisRefused) as refused:
        check(url)
    assert refused.value.code == "REDIS_AUTH" and "not-it" not in str(refused.value)
    assert ACL_PASSWORD not in str(refused.value)

    result = CliRunner().invoke(cli, ["worker", "--redis-url", url])  # refuses before taking any work
    assert result.exit_code == 1 and "[REDIS_AUTH]" in result.output
    assert "not-it" not in result.output and ACL_PASSWORD not in result.output

    server = serve(url, tmp_path / kind)  # the API itself: a clear 503, not "unreachable" nor a 500
    try:
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
        assert ready.status_code == 503 and ready.json()["error"]["checks"]["redis"] == "refused the credentials"
        answer = httpx.get(f"{server.url}/api/v1/tournaments/cup/leaderboard", timeout=10)
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "REDIS_AUTH"
    finally:
        server.stop()


def test_an_unreachable_redis_is_not_an_auth_failure(locked) -> None:
    with pytest.raises(RedisRefused) as refused:
        check("redis://:x@127.0.0.1:1/0", timeout_s=0.5)
    assert refused.value.code == "REDIS_UNREACHABLE" and ":x@" not in str(refused.value)


def test_passwords_are_redacted_for_messages() -> None:
    assert redacted("redis://:s3cret@10.0.0.5:6380/2") == "redis://:***@10.0.0.5:6380/2"
    assert redacted("rediss://arena:s3cret@redis.example:6379/0") == "rediss://arena:***@redis.example:6379/0"
    assert redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_the_password_is_given_in_a_private_file_not_on_the_command_line(locked) -> None:
    client = redis.Redis.from_url(locked.url)
    config = Path(client.info("server")["config_file"])  # not an argument, which any local user could read
    assert client.config_get("requirepass") == {"requirepass": PASSWORD}
    client.close()
    assert config.name == "arena-redis.conf" and config.stat().st_mode & 0o777 == 0o600
    assert PASSWORD in config.read_text()
