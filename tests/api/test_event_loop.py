"""The API's event loop never waits on a blocking Redis call. The service's blocking Redis client is made to hang
(as a stalled Redis would) once a leaderboard request reaches it: the request waits in the thread pool, and
/healthz, served on the loop, still answers."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

BOARD = "/api/v1/tournaments/cup/leaderboard"


@pytest.mark.parametrize("path", [BOARD, f"{BOARD}/bots/x:y"])
def test_a_stalled_redis_call_does_not_stall_the_event_loop(api, path: str) -> None:
    server = api()
    client = server.server.config.app.state.arena.redis  # the blocking client the routes use
    reached, release = threading.Event(), threading.Event()
    original = client.execute_command

    def stalled(*args: Any, **kwargs: Any) -> Any:
        reached.set()
        release.wait(30)
        return original(*args, **kwargs)

    answers: list[int] = []
    asker = threading.Thread(target=lambda: answers.append(httpx.get(f"{server.url}{path}", timeout=60).status_code))
    client.execute_command = stalled
    try:
        asker.start()
        assert reached.wait(30), "the request never reached Redis"
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200  # the loop is free meanwhile
    finally:
        release.set()
        client.execute_command = original
        asker.join(timeout=60)
    assert answers == [404]  # then it completes: no such leaderboard
