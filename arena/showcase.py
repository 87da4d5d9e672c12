"""The demo as a website: ``arena demo --web`` runs the service on loopback with a live tournament to watch.

It does what people would do, through the service's own API: an admin and one contestant per example bot
are enrolled, each contestant uploads their bot (smoke-tested in the sandbox), the admin creates a
realtime tournament, opens it, enters every bot and starts it. Then the spectator page, the dashboard and
the contestant pages are there to look at until Ctrl-C. State lives in a throwaway folder.

The planes are those of production, each its own process: this one serves the site (the API), and an
engine worker and a bot host run beside it (``arena.service.embedded``), reached through Celery on Redis.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy.orm import Session

from arena.api.app import create_app
from arena.runtime.redis_server import RedisServer
from arena.service.embedded import Planes
from arena.settings import Settings
from arena.store import accounts
from arena.store.db import make_engine
from arena.store.migrate import upgrade

SLUG = "demo"


@dataclass
class Showcase:
    url: str
    admin_password: str
    keys: dict[str, str]  # contestant -> API key

    def spectator_url(self) -> str:
        return f"{self.url}/t/{SLUG}"


def _enrol(database_url: str, names: list[str]) -> tuple[str, dict[str, str], str]:
    """The admin (with a password) and one contestant per bot; returns the admin's key, theirs, the password."""
    password = secrets.token_urlsafe(9)
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with Session(engine) as session, session.begin():
            admin = accounts.create_contestant(session, "admin", is_admin=True)
            accounts.set_password(admin, password)
            admin_key = accounts.create_api_key(session, admin, "demo")[1]
            keys = {}
            for name in names:
                keys[name] = accounts.create_api_key(session, accounts.create_contestant(session, name), "demo")[1]
    finally:
        engine.dispose()
    return admin_key, keys, password


def _checked(answer: httpx.Response) -> dict[str, Any]:
    if answer.is_error:
        raise RuntimeError(f"{answer.request.method} {answer.request.url.path}: {answer.status_code} {answer.text}")
    return answer.json()


def _stage(api: httpx.Client, admin_key: str, keys: dict[str, str], bots: dict[str, Path], rules: dict[str, Any],
           ticks: int, tick_s: float, seed: int) -> None:  # fmt: skip
    admin = {"X-API-Key": admin_key}
    for name, path in bots.items():
        _checked(api.post(f"/bots/{name}/versions", files={"file": (path.name, path.read_bytes())},
                          headers={"X-API-Key": keys[name]}))  # fmt: skip
    _checked(api.post("/admin/tournaments", headers=admin, json={
        "slug": SLUG, "name": "Arena demo cup", "rules": rules, "feed": f"synthetic:{seed}", "seed": seed,
        "ticks": ticks, "clock": "realtime", "tick_deadline_s": tick_s}))  # fmt: skip
    _checked(api.post(f"/admin/tournaments/{SLUG}/open", headers=admin))
    deadline = time.monotonic() + 120
    pending = dict(bots)
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            version = _checked(api.get(f"/bots/{name}/versions/1", headers={"X-API-Key": keys[name]}))
            if version["status"] != "pending":
                pending.pop(name)
                if version["status"] == "ready":
                    _checked(api.post(f"/tournaments/{SLUG}/entries", json={"bot": name},
                                      headers={"X-API-Key": keys[name]}))  # fmt: skip
        time.sleep(0.2)  # waiting on the sandboxed smoke tests, bounded by the deadline
    _checked(api.post(f"/admin/tournaments/{SLUG}/start", headers=admin))


def serve(bots: dict[str, Path], rules: dict[str, Any], *, port: int, ticks: int, tick_s: float, seed: int,
          ready: Callable[[Showcase], bool]) -> None:  # fmt: skip
    """``ready`` is told where to look once the tournament has started; the site stays up until Ctrl-C if it
    answers True, and shuts down at once if False."""
    redis_url, own_redis = Settings().redis_url, None
    if not redis_url:
        own_redis = RedisServer().start()
        redis_url = own_redis.url
    data_dir = Path(tempfile.mkdtemp(prefix="arena-demo-"))
    stack = contextlib.ExitStack()
    try:
        settings = Settings(redis_url=redis_url, data_dir=data_dir, database_url=None, tasks="celery")
        admin_key, keys, password = _enrol(settings.database, list(bots))
        env = {"ARENA_DATABASE_URL": settings.database, "ARENA_DATA_DIR": str(data_dir)}
        stack.enter_context(Planes(settings.redis, env))
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                                proxy_headers=False)  # fmt: skip
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the web service could not start on 127.0.0.1:{port} (port taken?)")
            time.sleep(0.05)  # waiting for uvicorn's start-up
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=f"{url}/api/v1", timeout=60) as api:
            _stage(api, admin_key, keys, bots, rules, ticks, tick_s, seed)
        if ready(Showcase(url, password, keys)):
            with contextlib.suppress(KeyboardInterrupt):
                thread.join()
        server.should_exit = True
        thread.join(timeout=20)
    finally:
        stack.close()  # the engine worker and the bot host stop (bots stopped) before their Redis
        if own_redis is not None:
            own_redis.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
