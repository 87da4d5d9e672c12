"""A real uvicorn server on a free loopback port, in a thread, for the API tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from arena.api.app import create_app
from arena.runtime.redis_server import free_port
from arena.settings import Settings
from tests.store.conftest import database_url, pg_database, pg_server, sqlite_template  # noqa: F401 (fixtures)


class LiveServer:
    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=self.port, log_level="warning",
                                proxy_headers=False)  # as arena serve: the app decides whom to trust
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.01)  # polling for start-up, bounded by the deadline
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def api(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start an API server with settings overrides: ``api(spectator_delay_s=1)`` (SQLite in tmp_path by default)."""
    servers: list[LiveServer] = []

    def start(**overrides: object) -> LiveServer:
        overrides.setdefault("data_dir", tmp_path / "data")
        settings = Settings(redis_url=redis_url, **overrides)  # type: ignore[arg-type]
        server = LiveServer(settings).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def enrol(
    server_url: str, admin_key: str, names: tuple[str, ...] = ("alice", "bob")
) -> tuple[httpx.Client, dict, dict]:
    """An API client, the admin's headers, and contestants created by the admin: name -> their headers."""
    client = httpx.Client(base_url=server_url + "/api/v1", timeout=30)
    admin = {"X-API-Key": admin_key}
    people = {}
    for name in names:
        answer = client.post("/admin/contestants", json={"name": name}, headers=admin)
        assert answer.status_code == 201, answer.text
        people[name] = {"X-API-Key": answer.json()["api_key"]}
    return client, admin, people


def open_tournament(server: LiveServer, slug: str) -> None:
    """A public (open) tournament ``slug`` in the server's database: spectators may stream only real ones."""
    from arena.store import tournaments

    sessions = server.server.config.app.state.arena.sessions
    with sessions.begin() as session:
        tournaments.transition(session, tournaments.create_tournament(session, slug, slug), "open")


def walk(client: httpx.Client, path: str, headers: dict | None = None, **params: object) -> list[dict]:
    """Every item of a list route, following its `next` cursors page by page (each page checked for size)."""
    items: list[dict] = []
    cursor = None
    for _ in range(10_000):
        answer = client.get(path, headers=headers, params={**params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["items"]) <= int(params.get("limit", 50))  # type: ignore[call-overload]
        items += page["items"]
        cursor = page["next"]
        if cursor is None:
            return items
    raise AssertionError(f"{path}: the pages never end")
