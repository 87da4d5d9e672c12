"""kill -9 of `arena serve --embedded` mid-tournament (its engine worker and bot host die with it): with no engine
worker left to take the tournament over, it does not stay `running` forever.

The engine worker that runs a tournament holds its lease (arena/runtime/lease.py); killed, it stops renewing it,
and the scheduler of the restarted service marks the tournament failed, with the reason, once the lease has been
vacant for three times its time to live. The admin can then re-run it from its seed. Real `arena serve` and
`arena worker` processes, Redis, SQLite and runsc sandboxes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from arena.runtime.redis_server import free_port
from tests.api.conftest import enrol
from tests.api.test_service import ROOT, admin_key, poll, upload

pytestmark = pytest.mark.sandbox
LEASE_TTL_S = 1.0


@pytest.fixture
def serve(redis_url: str, tmp_path: Path) -> Iterator[tuple[Callable[[], tuple[subprocess.Popen[bytes], str]], str]]:
    """Start `arena serve` as its own process (the same database, Redis and data each time); and the admin's key."""
    database = f"sqlite:///{tmp_path / 'arena.db'}"
    env = os.environ | {"ARENA_DATABASE_URL": database, "ARENA_REDIS_URL": redis_url,
                        "ARENA_DATA_DIR": str(tmp_path / "data"), "ARENA_RATE_LIMIT": "1000000",
                        "ARENA_LEASE_TTL_S": str(LEASE_TTL_S)}  # fmt: skip
    started: list[subprocess.Popen[bytes]] = []
    key = admin_key(database)  # migrates and creates the first admin

    def start(*args: str) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        process = subprocess.Popen([str(Path(sys.executable).parent / "arena"), "serve", "--port", str(port), *args],
                                   env=env, stdout=subprocess.DEVNULL, start_new_session=True,
                                   stderr=(tmp_path / f"serve-{port}.log").open("wb"))  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        answer = poll(lambda: _get(url + "/healthz"), lambda r: r is not None and r.status_code == 200, 30)
        assert answer is not None, (tmp_path / f"serve-{port}.log").read_text()[-3000:]
        started.append(process)
        return process, url

    yield start, key
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.TransportError:
        return None


def test_a_tournament_whose_service_was_killed_fails_with_its_reason_and_can_be_rerun(serve) -> None:
    start, key = serve
    first, url = start("--embedded")
    client, admin, people = enrol(url, key, ("alice",))
    upload(client, people["alice"], "holder", "buy_and_hold.py", (ROOT / "examples/bots/buy_and_hold.py").read_bytes())
    version = poll(lambda: client.get("/bots/holder/versions/1", headers=people["alice"]).json(),
                   lambda v: v["status"] != "pending")
    assert version["status"] == "ready", version
    created = client.post("/admin/tournaments", headers=admin, json={
        "slug": "cup", "name": "Cup", "feed": "synthetic:3", "ticks": 600, "seed": 3, "clock": "realtime",
        "tick_deadline_s": 0.1, "rules": {"symbols": ["BTC-USD", "ETH-USD"]}})  # fmt: skip
    assert created.status_code == 201, created.text
    client.post("/admin/tournaments/cup/open", headers=admin)
    assert client.post("/tournaments/cup/entries", json={"bot": "holder"}, headers=people["alice"]).status_code == 201
    assert client.post("/admin/tournaments/cup/start", headers=admin).json()["status"] == "running"
    detail = poll(lambda: client.get("/admin/tournaments/cup", headers=admin).json(),
                  lambda t: (t.get("progress") or {}).get("tick", 0) >= 3)
    assert detail["progress"]["tick"] >= 3, detail

    first.kill()  # SIGKILL mid-tournament: no chance to say anything; its workers die with it
    first.wait()
    client.close()
    api_only, url = start()  # no engine worker to take it over
    client = httpx.Client(base_url=url + "/api/v1", timeout=10)
    failed = poll(lambda: client.get("/admin/tournaments/cup", headers=admin).json(),
                  lambda t: t["status"] != "running", timeout_s=30)
    assert failed["status"] == "failed", failed
    assert "no heartbeat since" in failed["end_reason"], failed
    assert client.get("/tournaments/cup").json()["status"] == "failed"  # the public page says so too
    api_only.send_signal(signal.SIGTERM)
    api_only.wait(timeout=15)
    client.close()

    _, url = start("--embedded")  # workers again, for the re-run
    client = httpx.Client(base_url=url + "/api/v1", timeout=10)
    rerun = client.post("/admin/tournaments/cup/rerun", headers=admin)
    assert rerun.status_code == 201, rerun.text
    slug = rerun.json()["slug"]
    running = poll(lambda: client.get(f"/admin/tournaments/{slug}", headers=admin).json(),
                   lambda t: (t.get("progress") or {}).get("tick", 0) >= 2)
    assert running["status"] == "running" and running["progress"]["tick"] >= 2, running
    assert client.post(f"/admin/tournaments/{slug}/stop", headers=admin).status_code == 200
    done = poll(lambda: client.get(f"/admin/tournaments/{slug}", headers=admin).json(),
                lambda t: t["status"] != "running")
    assert done["status"] == "finished", done  # a live engine answers the stop: it finishes, not fails
    client.close()


def test_stopping_a_running_tournament_that_no_engine_runs_fails_it_at_once(api, database_url) -> None:
    from sqlalchemy.orm import Session

    from arena.store import tournaments as repo
    from arena.store.db import make_engine

    key = admin_key(database_url)
    server = api(database_url=database_url, lease_ttl_s=60)  # the scheduler alone would wait two minutes
    engine = make_engine(database_url)
    with Session(engine) as session, session.begin():  # running, but nobody took it: the process died at once
        t = repo.create_tournament(session, "orphan", "Orphan")
        repo.transition(session, t, "open")
        repo.transition(session, t, "running")
    engine.dispose()
    with httpx.Client(base_url=server.url + "/api/v1", timeout=10) as client:
        admin = {"X-API-Key": key}
        stopped = client.post("/admin/tournaments/orphan/stop", headers=admin)
        assert stopped.status_code == 200 and stopped.json()["status"] == "failed", stopped.text
        assert "no engine was running it" in stopped.json()["end_reason"]
        assert client.post("/admin/tournaments/orphan/rerun", headers=admin).status_code == 201


def test_sigterm_ends_the_service_promptly_with_a_spectator_connected(serve) -> None:
    import threading
    import time

    start, key = serve
    process, url = start()
    admin = {"X-API-Key": key}
    with httpx.Client(base_url=url + "/api/v1", timeout=10) as client:
        client.post("/admin/tournaments", headers=admin, json={"slug": "show", "name": "Show"})
        assert client.post("/admin/tournaments/show/open", headers=admin).json()["status"] == "open"
    connected = threading.Event()

    def spectate() -> None:
        try:
            with httpx.stream("GET", f"{url}/api/v1/tournaments/show/leaderboard/stream", timeout=30) as stream:
                connected.set()
                for _ in stream.iter_bytes():
                    pass
        except httpx.HTTPError:
            pass  # the server went away: what this test wants

    spectator = threading.Thread(target=spectate, daemon=True)
    spectator.start()
    assert connected.wait(10)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=15)  # before: it waited for the spectator forever
    assert time.monotonic() - started < 10
    spectator.join(timeout=10)


def test_ctrl_c_stops_the_embedded_service_mid_tournament_and_leaves_nothing(serve) -> None:
    import time

    from tests.processes import alive, descendants

    start, key = serve
    process, url = start("--embedded")
    client, admin, people = enrol(url, key, ("alice",))
    upload(client, people["alice"], "holder", "buy_and_hold.py", (ROOT / "examples/bots/buy_and_hold.py").read_bytes())
    assert poll(lambda: client.get("/bots/holder/versions/1", headers=people["alice"]).json(),
                lambda v: v["status"] != "pending")["status"] == "ready"  # fmt: skip
    client.post("/admin/tournaments", headers=admin, json={
        "slug": "cut", "name": "Cut", "feed": "synthetic:3", "ticks": 5000, "seed": 3, "clock": "realtime",
        "tick_deadline_s": 0.1, "rules": {"symbols": ["BTC-USD", "ETH-USD"]}})  # fmt: skip
    client.post("/admin/tournaments/cut/open", headers=admin)
    assert client.post("/tournaments/cut/entries", json={"bot": "holder"}, headers=people["alice"]).status_code == 201
    assert client.post("/admin/tournaments/cut/start", headers=admin).json()["status"] == "running"
    assert poll(lambda: client.get("/admin/tournaments/cut", headers=admin).json(),
                lambda t: (t.get("progress") or {}).get("tick", 0) >= 3)["progress"]["tick"] >= 3  # fmt: skip
    client.close()
    tree = descendants(process.pid)  # the engine worker, the bot host and the bot's sandbox
    assert len(tree) >= 3, tree
    started = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C at the terminal
    process.wait(timeout=15)
    assert time.monotonic() - started < 10
    assert not [pid for pid in tree if alive(pid)]
