"""Spectator endpoints over real HTTP, SSE and WebSocket, against a real Redis."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import redis
import websockets
from websockets.sync.client import connect

from arena.runtime.leaderboard import Change, Leaderboard, LeaderboardKeys, LeaderboardPublisher, _encode_change
from tests.api.conftest import open_tournament

T = "cup-1"


@pytest.fixture
def board(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield Leaderboard(client, T), LeaderboardPublisher(client, T, max_rate=1_000_000)
    client.close()


def test_top_paging_ties_and_a_bots_neighbours(api, http, board):
    leaderboard, _ = board
    leaderboard.update({"a": 30.0, "b": 20.0, "c": 20.0, "d": 10.0, "e": 5.0})
    server = api()
    page = http.get(f"{server.url}/api/v1/tournaments/{T}/leaderboard", params={"limit": 3}).json()
    assert page["total"] == 5 and not page["final"]
    assert [(s["rank"], s["score"]) for s in page["items"]] == [(1, 30.0), (2, 20.0), (2, 20.0)]
    second = http.get(f"{server.url}/api/v1/tournaments/{T}/leaderboard",
                      params={"limit": 3, "cursor": page["next"]}).json()  # fmt: skip
    assert [(s["rank"], s["bot"]) for s in second["items"]] == [(4, "d"), (5, "e")] and second["next"] is None
    mine = http.get(f"{server.url}/api/v1/tournaments/{T}/leaderboard/bots/d", params={"k": 1}).json()
    assert mine["rank"] == 4 and [s["bot"] for s in mine["around"]][1] == "d" and len(mine["around"]) == 3


def test_standings_name_each_bot_as_chosen_with_its_contestant_and_keep_the_key(api, http, board):
    leaderboard, _ = board
    leaderboard.update({"alice:twap": 3.0, "x:y:holder": 2.0, "demo-bot": 1.0})  # a contestant's name may hold ':'
    url = f"{api().url}/api/v1/tournaments/{T}/leaderboard"
    page = http.get(url).json()
    assert [(s["bot"], s["name"], s["contestant"]) for s in page["items"]] == [
        ("alice:twap", "twap", "alice"), ("x:y:holder", "holder", "x:y"), ("demo-bot", "demo-bot", None)]
    around = http.get(f"{url}/bots/x:y:holder").json()["around"]
    assert [(s["name"], s["contestant"]) for s in around] == [("twap", "alice"), ("holder", "x:y"), ("demo-bot", None)]


def test_frozen_board_is_the_final_one(api, http, board):
    leaderboard, _ = board
    leaderboard.update({"a": 1.0, "b": 2.0})
    leaderboard.freeze()
    page = http.get(f"{api().url}/api/v1/tournaments/{T}/leaderboard").json()
    assert page["final"] and [s["bot"] for s in page["items"]] == ["b", "a"]


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/v1/tournaments/nope/leaderboard", 404, "NO_LEADERBOARD"),
        (f"/api/v1/tournaments/{T}/leaderboard/bots/ghost", 404, "UNKNOWN_BOT"),
        (f"/api/v1/tournaments/{T}/leaderboard?limit=0", 422, "INVALID_REQUEST"),
        (f"/api/v1/tournaments/{T}/leaderboard?limit=abc", 422, "INVALID_REQUEST"),
        ("/api/v1/tournaments/{bad}/leaderboard", 422, "INVALID_REQUEST"),
        ("/api/v1/nothing-here", 404, "NOT_FOUND"),
    ],
)
def test_bad_requests_get_a_code_and_a_message(api, http, board, path, status, code):
    board[0].update({"a": 1.0})
    response = http.get(api().url + path)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]


def read_sse(response: httpx.Response, wanted: int, timeout_s: float = 10.0) -> list[dict]:
    events, current = [], {}
    deadline = time.monotonic() + timeout_s
    for line in response.iter_lines():
        if time.monotonic() > deadline:
            break
        if not line:
            if current.get("event") == "leaderboard":
                events.append({"id": current["id"], **json.loads(current["data"])})
                if len(events) >= wanted:
                    break
            current = {}
            continue
        field, _, value = line.partition(": ")
        current[field] = value
    return events


def test_sse_streams_changes_and_resumes_from_last_event_id(api, board):
    _, publisher = board
    server = api()
    open_tournament(server, T)
    url = f"{server.url}/api/v1/tournaments/{T}/leaderboard/stream"
    publisher.changed({"a": 1.0}, 1)
    with httpx.stream("GET", url, params={"after": "0-0"}, timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        first = read_sse(response, 1)
    publisher.changed({"a": 2.0}, 2)
    publisher.changed({"b": 3.0}, 3)
    with httpx.stream("GET", url, headers={"Last-Event-ID": first[0]["id"]}, timeout=10) as response:
        resumed = read_sse(response, 2)
    assert [e["seq"] for e in first + resumed] == [1, 2, 3]
    assert resumed[1]["scores"] == {"b": 3.0}


def test_websocket_gets_live_changes_after_connecting(api, board):
    _, publisher = board
    server = api()
    open_tournament(server, T)
    publisher.changed({"old": 1.0}, 1)
    with connect(f"ws://127.0.0.1:{server.port}/api/v1/tournaments/{T}/leaderboard/ws?after=0-0") as socket:
        assert json.loads(socket.recv(timeout=10))["scores"] == {"old": 1.0}
        publisher.changed({"new": 2.0}, 2)
        message = json.loads(socket.recv(timeout=10))
    assert message["type"] == "leaderboard" and message["seq"] == 2 and message["scores"] == {"new": 2.0}


def test_tournaments_whose_changes_share_a_stream_id_each_send_their_own(api, redis_url):
    # Stream ids are per stream: two tournaments' changes may carry the same one, and must not share an encoding.
    client = redis.Redis.from_url(redis_url)
    server = api()
    got = {}
    for tournament, bot in (("cup-a", "alpha"), ("cup-b", "beta")):
        open_tournament(server, tournament)
        payload = _encode_change(Change(1, 1, {bot: 1.0}))
        client.xadd(LeaderboardKeys.for_tournament(tournament).changes, {"change": payload}, id="5-1")
        url = f"ws://127.0.0.1:{server.port}/api/v1/tournaments/{tournament}/leaderboard/ws?after=0-0"
        with connect(url) as socket:
            got[tournament] = json.loads(socket.recv(timeout=10))
    client.close()
    assert got["cup-a"]["id"] == got["cup-b"]["id"] == "5-1"
    assert got["cup-a"]["scores"] == {"alpha": 1.0} and got["cup-b"]["scores"] == {"beta": 1.0}


def test_a_burst_of_spectators_larger_than_the_redis_pool_is_served_not_refused(api, redis_url):
    # Each connect hits the rate limiter in Redis at once; with 250 at once and a pool of 16, they take turns.
    server = api(redis_connections=16, rate_limit=10_000)
    open_tournament(server, T)
    url = f"ws://127.0.0.1:{server.port}/api/v1/tournaments/{T}/leaderboard/ws?after=0-0"
    client = redis.Redis.from_url(redis_url)
    publisher = LeaderboardPublisher(client, T, max_rate=1_000_000)

    async def burst(n: int) -> list[dict]:
        sockets = await asyncio.gather(*(websockets.connect(url, open_timeout=30) for _ in range(n)))
        publisher.changed({"a": 1.0}, 1)  # ?after=0-0: each socket gets it however late it subscribed
        firsts = await asyncio.gather(*(s.recv() for s in sockets))
        await asyncio.gather(*(s.close() for s in sockets))
        return [json.loads(f) for f in firsts]

    got = asyncio.run(burst(250))  # a refused connect raises InvalidStatus (it was 503 "Redis is unreachable")
    client.close()
    assert len(got) == 250 and all(g["scores"] == {"a": 1.0} for g in got)


def test_spectators_see_the_board_only_after_the_delay(api, http, board):
    leaderboard, publisher = board
    leaderboard.update({"a": 1.0})
    published = time.time()  # before the change is written: its stream id is at or after this
    publisher.changed({"a": 1.0}, 1)
    server = api(spectator_delay_s=1.0)
    open_tournament(server, T)
    url = f"{server.url}/api/v1/tournaments/{T}/leaderboard"
    first = http.get(url)
    if time.time() - published < 0.9:  # asked within the delay: nothing visible yet
        assert first.status_code == 404
    deadline = time.monotonic() + 10
    while (response := http.get(url)).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.05)  # polling for the delayed board, bounded by the deadline
    assert time.time() - published >= 0.999  # stream ids count whole milliseconds
    assert response.json()["delayed_s"] == 1.0 and response.json()["items"][0]["bot"] == "a"


def test_rate_limit_answers_429_with_retry_after(api, http, board):
    board[0].update({"a": 1.0})
    server = api(rate_limit=3, rate_window_s=60)
    url = f"{server.url}/api/v1/tournaments/{T}/leaderboard"
    answers = [http.get(url) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["RateLimit-Policy"] == '"default";q=3;w=60'
    assert answers[2].headers["RateLimit"].startswith('"default";r=0;')
    assert answers[3].json()["error"]["code"] == "RATE_LIMITED" and 1 <= int(answers[3].headers["Retry-After"]) <= 60


def test_an_event_stream_is_limited_counted_and_secured_as_any_request(api, http, board):
    """The stream's answer passes the same (plain ASGI) middleware as every route: its budget, the RateLimit
    fields, the security headers, and the request metric by route template."""
    server = api(rate_limit=2, rate_window_s=60)
    open_tournament(server, T)
    url = f"{server.url}/api/v1/tournaments/{T}/leaderboard/stream"
    with httpx.stream("GET", url, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["RateLimit"].startswith('"default";r=1;')
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    http.get(url.removesuffix("/stream"))  # the budget's second request
    refused = http.get(url)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "RATE_LIMITED"
    assert refused.headers["X-Frame-Options"] == "DENY" and 1 <= int(refused.headers["Retry-After"]) <= 60
    route = "/api/v1/tournaments/{tournament}/leaderboard/stream"
    counted = [line for line in http.get(f"{server.url}/metrics").text.splitlines()
               if line.startswith("arena_http_requests_total{") and f'route="{route}"' in line]  # fmt: skip
    assert {line.split('status="')[1].split('"')[0] for line in counted} >= {"200", "429"}


def test_metrics_and_health(api, http):
    server = api()
    assert http.get(f"{server.url}/healthz").json()["status"] == "ok"
    text = http.get(f"{server.url}/metrics").text
    for name in ("arena_orders_total", "arena_websocket_clients", "arena_sandbox_ends_total", "arena_uploads_total",
                 "arena_leaderboard_update_seconds", "arena_order_latency_seconds", "arena_bots"):  # fmt: skip
        assert name in text
    assert 'bot="' not in text and 'user="' not in text  # no per-bot or per-user labels


def test_openapi_schema_is_served(api, http):
    schema = http.get(f"{api().url}/openapi.json").json()
    assert "/api/v1/tournaments/{tournament}/leaderboard" in schema["paths"]


def test_quiet_streams_send_heartbeats(api, board):
    server = api(heartbeat_s=1.0)
    open_tournament(server, T)
    with connect(f"ws://127.0.0.1:{server.port}/api/v1/tournaments/{T}/leaderboard/ws") as socket:
        assert json.loads(socket.recv(timeout=10)) == {"type": "heartbeat"}
    url = f"{server.url}/api/v1/tournaments/{T}/leaderboard/stream"
    with httpx.stream("GET", url, timeout=10) as response:
        lines = response.iter_lines()
        assert any(line == "event: heartbeat" for line, _ in zip(lines, range(10), strict=False))
