"""Hostile spectators: connect-then-drop floods, made-up tournaments, caps and rate limits on the streams."""

from __future__ import annotations

import contextlib
import json
import socket
import time

import httpx
import pytest
import redis
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from arena.runtime.leaderboard import LeaderboardPublisher
from tests.api.conftest import LiveServer, open_tournament

REAL = [f"real-{i}" for i in range(6)]


def close_code(url: str) -> int:
    """The code a refused WebSocket is closed with."""
    with connect(url) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=5)
    return closed.value.rcvd.code


def hub(server: LiveServer):
    return server.server.config.app.state.arena.hub


def connect_and_drop(server: LiveServer, tournament: str) -> bytes:
    """Ask for the SSE stream, read the first bytes of the answer, hang up."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(f"GET /api/v1/tournaments/{tournament}/leaderboard/stream HTTP/1.1\r\n"
                     f"Host: x\r\nAccept: text/event-stream\r\n\r\n".encode())  # fmt: skip
        return conn.recv(256)


def wait_for(condition, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # polling the server's hub, bounded by the deadline
    return True


def test_connect_then_drop_flood_leaves_no_readers_and_the_api_answers(api, http):
    server = api(rate_limit=1_000_000, stream_max_feeds=4)
    for slug in REAL:
        open_tournament(server, slug)
    answers = [connect_and_drop(server, f"made-up-{i}" if i % 2 else REAL[i % len(REAL)]) for i in range(300)]
    made_up = answers[1::2]
    assert all(a.startswith(b"HTTP/1.1 404") for a in made_up)
    assert all(a.startswith((b"HTTP/1.1 200", b"HTTP/1.1 503")) for a in answers[0::2])
    readers = hub(server).readers()
    assert not [t for t in readers if t.startswith("made-up")] and len(readers) <= 4
    assert wait_for(lambda: not hub(server).readers())  # every spectator left: every reader stopped
    started = time.monotonic()
    assert http.get(f"{server.url}/api/v1/tournaments").status_code == 200
    assert time.monotonic() - started < 1.0
    assert wait_for(lambda: hub(server).client.connection_pool._in_use_connections == set())


def test_made_up_tournament_is_404_with_the_envelope_and_no_reader(api, http):
    server = api()
    answer = http.get(f"{server.url}/api/v1/tournaments/nope/leaderboard/stream")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "UNKNOWN_TOURNAMENT"
    assert close_code(f"ws://127.0.0.1:{server.port}/api/v1/tournaments/nope/leaderboard/ws") == 1008
    assert hub(server).readers() == {}


def test_a_tournament_is_looked_up_until_it_is_public_then_remembered(api, http):
    """A public tournament stays public: many spectators cost one database lookup. A draft is refused each
    time it is asked for (a no is never remembered), and may be watched once opened."""
    from sqlalchemy import event

    from arena.store import tournaments

    server = api()
    sessions = server.server.config.app.state.arena.sessions
    with sessions.begin() as session:
        tournaments.create_tournament(session, "later", "later")
    lookups: list[str] = []
    event.listen(sessions.kw["bind"], "before_cursor_execute",
                 lambda *args: lookups.append(args[2]) if "tournaments.slug" in args[2] else None)  # fmt: skip
    url = f"{server.url}/api/v1/tournaments/later/leaderboard/stream"
    for _ in range(2):
        answer = http.get(url)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "UNKNOWN_TOURNAMENT"
    assert len(lookups) == 2
    with sessions.begin() as session:
        tournaments.transition(session, tournaments.get_tournament(session, "later"), "open")
    lookups.clear()
    ws = f"ws://127.0.0.1:{server.port}/api/v1/tournaments/later/leaderboard/ws"
    for _ in range(3):
        with httpx.stream("GET", url, timeout=10) as response:
            assert response.status_code == 200
        with connect(ws) as socket:
            assert socket.ping().wait(timeout=10)
    assert len(lookups) == 1


def test_a_feeds_reader_ends_with_its_last_subscriber(api):
    server = api(heartbeat_s=1.0)
    open_tournament(server, "cup")
    url = f"ws://127.0.0.1:{server.port}/api/v1/tournaments/cup/leaderboard/ws"
    with connect(url) as first, connect(url) as second:
        assert first.recv(timeout=10) and second.recv(timeout=10)  # heartbeats
        assert hub(server).readers() == {"cup": True}
        task = hub(server)._feeds["cup"].task
        first.close()
        time.sleep(0.3)
        assert hub(server).readers() == {"cup": True}  # one spectator is still watching
    assert wait_for(lambda: task.done() and not hub(server).readers())


def test_caps_refuse_with_503_or_close_1013(api):
    server = api(stream_max_per_feed=1, heartbeat_s=1.0)
    open_tournament(server, "cup")
    with connect(f"ws://127.0.0.1:{server.port}/api/v1/tournaments/cup/leaderboard/ws") as first:
        assert first.recv(timeout=10)
        answer = httpx.get(f"{server.url}/api/v1/tournaments/cup/leaderboard/stream", timeout=5)
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "TOO_MANY_SPECTATORS"
        assert answer.headers["Retry-After"]
        assert close_code(f"ws://127.0.0.1:{server.port}/api/v1/tournaments/cup/leaderboard/ws") == 1013


def test_websockets_are_rate_limited(api):
    server = api(rate_limit=3, heartbeat_s=1.0)
    open_tournament(server, "cup")
    url = f"ws://127.0.0.1:{server.port}/api/v1/tournaments/cup/leaderboard/ws"
    for _ in range(3):
        with connect(url) as ws:
            assert ws.recv(timeout=10)
    assert close_code(url) == 1013


def test_a_resume_reads_a_bounded_backlog_then_ends_to_be_resumed(api, redis_url):
    server = api(stream_backlog=10, heartbeat_s=1.0)
    open_tournament(server, "cup")
    client = redis.Redis.from_url(redis_url)
    publisher = LeaderboardPublisher(client, "cup", max_rate=1_000_000)
    for seq in range(1, 26):
        publisher.changed({"a": float(seq)}, seq)
    client.close()
    url = f"ws://127.0.0.1:{server.port}/api/v1/tournaments/cup/leaderboard/ws"
    seen: list[list[int]] = []
    after = "0-0"
    for _ in range(3):  # 25 missed changes, at most 10 per connection: three connections catch up
        seen.append([])
        with connect(f"{url}?after={after}") as ws, contextlib.suppress(ConnectionClosed):
            while (message := json.loads(ws.recv(timeout=5)))["type"] == "leaderboard":
                seen[-1].append(message["seq"])
                after = message["id"]
    assert seen == [list(range(1, 11)), list(range(11, 21)), list(range(21, 26))]
