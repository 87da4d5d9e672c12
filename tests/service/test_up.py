"""`arena up`: the production shape on one machine (Redis with its append-only file, the API, an engine worker, a
bot host, each its own process). Ctrl-C mid-tournament stops every process within 10 s and leaves the tournament
recorded; the next `arena up` takes it over and finishes it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from arena.runtime.bus import Bus
from arena.runtime.redis_server import free_port
from arena.service import tasks
from arena.store.db import make_engine, make_sessionmaker
from arena.store.models import TournamentStatus
from tests.polling import wait_until
from tests.processes import alive, descendants
from tests.service.test_planes import ARENA, status_of, stored_tournament

pytestmark = [pytest.mark.sandbox]


def start_up(tmp_path: Path, port: int) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if k != "ARENA_REDIS_URL"} | {
        "ARENA_DATA_DIR": str(tmp_path), "ARENA_LEASE_TTL_S": "2"}  # fmt: skip
    process = subprocess.Popen([ARENA, "up", "--port", str(port)], env=env, stdout=subprocess.PIPE, text=True,
                               start_new_session=True)  # fmt: skip  # its own group, as a terminal's job
    assert process.stdout is not None
    redis_url = ""
    for line in process.stdout:
        if found := re.search(r"Redis redis://:\*\*\*@127\.0\.0\.1:(\d+)/0 \(password in (\S+)\)", line):
            # Its Redis requires a password, kept 0600 in the data dir and never printed.
            password_file = Path(found.group(2))
            assert password_file == tmp_path / "redis" / "password" and password_file.stat().st_mode & 0o777 == 0o600
            redis_url = f"redis://:{password_file.read_text().strip()}@127.0.0.1:{found.group(1)}/0"
            break
    assert redis_url, "arena up did not say where its Redis is"
    wait_until("the API answers", lambda: _ok(f"http://127.0.0.1:{port}/readyz"), within_s=60)
    return process, redis_url


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_ctrl_c_stops_arena_up_mid_tournament_and_the_next_one_finishes_it(tmp_path: Path) -> None:
    port = free_port()
    up, redis_url = start_up(tmp_path, port)
    engine = make_engine(f"sqlite:///{tmp_path / 'arena.db'}")
    sessions = make_sessionmaker(engine)
    try:
        tid = stored_tournament(sessions, "interrupted", ticks=200)
        tasks.configure(redis_url)
        tasks.conduct.delay(tid)
        import redis

        client = redis.Redis.from_url(redis_url)
        wait_until("tick 3", lambda: (p := Bus(client, "interrupted").progress()) and p[0] >= 3)
        with pytest.raises(redis.AuthenticationError):  # nobody gets in without the password
            redis.Redis.from_url(re.sub(r":[^:@/]+@", "@", redis_url)).ping()
        client.close()
        parts = descendants(up.pid)
        assert len(parts) >= 5  # redis-server, the API, an engine worker, a bot host, and the bots' sandboxes
        started = time.monotonic()
        os.killpg(up.pid, signal.SIGINT)  # Ctrl-C at the terminal
        up.wait(timeout=15)
        assert time.monotonic() - started < 10
        assert up.returncode == 0
        left = {pid for pid in parts if alive(pid)}
        assert not left, f"still running after Ctrl-C: {left}"
        assert status_of(sessions, tid) is TournamentStatus.RUNNING  # left for a takeover, not lost

        again, _ = start_up(tmp_path, free_port())  # the same data dir: Redis reads its append-only file back
        try:
            wait_until("the tournament ends", lambda: status_of(sessions, tid) is not TournamentStatus.RUNNING, 120)
            assert status_of(sessions, tid) is TournamentStatus.FINISHED
        finally:
            os.killpg(again.pid, signal.SIGINT)
            again.wait(timeout=15)
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
        engine.dispose()
