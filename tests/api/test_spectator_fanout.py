"""The spectator fan-out over a real uvicorn server and Redis: each change is encoded once for all its WebSocket and
SSE spectators and written to their connections as is; a spectator that stops reading is closed with 1008."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis
import websockets
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from arena.api.app import create_app
from arena.api.spectator_wire import EventWire, Relayed, WebSocketWire
from arena.metrics import SPECTATOR_ENCODES
from arena.runtime.leaderboard import LeaderboardPublisher
from arena.settings import Settings
from tests.api.conftest import LiveServer, open_tournament
from tests.polling import wait_until

T = "cup-fan"


def hub(server: LiveServer):
    return server.server.config.app.state.arena.hub


async def _next_event(lines) -> dict:
    fields: dict[str, str] = {}
    async for line in lines:
        if not line:
            if fields.get("event") == "leaderboard":
                return {"id": fields["id"], **json.loads(fields["data"])}
            fields = {}
            continue
        name, _, value = line.partition(": ")
        fields[name] = value
    raise AssertionError("the event stream ended")


@pytest.fixture
def served(api, redis_url) -> Iterator[tuple[LiveServer, LeaderboardPublisher, str]]:
    """A server with T open, a publisher of T's changes, and the address of T's streams (no scheme)."""
    server = api(rate_limit=10_000)
    open_tournament(server, T)
    client = redis.Redis.from_url(redis_url)
    yield (
        server,
        LeaderboardPublisher(client, T, max_rate=1_000_000),
        f"127.0.0.1:{server.port}/api/v1/tournaments/{T}/leaderboard",
    )
    client.close()


def test_one_change_is_encoded_once_for_all_its_websocket_and_sse_spectators(served):
    server, publisher, base = served
    n = 20

    async def watch() -> tuple[list[str], list[dict], float, list[type]]:
        sockets = await asyncio.gather(*(websockets.connect(f"ws://{base}/ws", open_timeout=10) for _ in range(n)))
        async with httpx.AsyncClient(timeout=10) as http, asyncio.timeout(30):
            streams = [await http.send(http.build_request("GET", f"http://{base}/stream"), stream=True)
                       for _ in range(n)]  # fmt: skip
            subscribed = lambda: hub(server).subscribers() == 2 * n  # noqa: E731
            await asyncio.to_thread(wait_until, "every spectator subscribed", subscribed)
            sinks = [type(s) for s in (*hub(server)._feeds[T].sinks,)]
            before = SPECTATOR_ENCODES._value.get()
            publisher.changed({"a": 1.5, "b": -2.0}, 7)
            texts = await asyncio.gather(*(s.recv() for s in sockets))
            events = await asyncio.gather(*(_next_event(s.aiter_lines()) for s in streams))
            encodes = SPECTATOR_ENCODES._value.get() - before
            for s in streams:
                await s.aclose()
        await asyncio.gather(*(s.close() for s in sockets))
        return texts, events, encodes, sinks

    with ThreadPoolExecutor(1) as pool:  # a loop of its own: a browser test may leave one running on this thread
        texts, events, encodes, sinks = pool.submit(asyncio.run, watch()).result()
    assert encodes == 1
    assert len(set(texts)) == 1 and len(texts) == n  # the same frame for every WebSocket spectator
    message = json.loads(texts[0])
    assert message["type"] == "leaderboard" and message["scores"] == {"a": 1.5, "b": -2.0} and message["ts"] == 7
    assert len(events) == n and all(e == {**message, "id": message["id"]} for e in events)
    # uvicorn's own connections: each frame went straight to the transport, not through a task per spectator
    assert sorted(s.__name__ for s in sinks) == sorted([WebSocketWire.__name__] * n + [EventWire.__name__] * n)


def test_a_websocket_spectator_that_stops_reading_is_closed_with_1008_and_the_others_get_everything(served):
    server, publisher, base = served
    url = f"ws://{base}/ws"
    stalled_socket = socket.socket()
    stalled_socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server's buffer fills
    stalled_socket.connect(("127.0.0.1", server.port))
    scores = {f"bot-{i:04d}": float(i) for i in range(2_000)}  # about 50 kB a change
    got: list[int] = []
    with connect(url, max_size=None) as reader, connect(url, sock=stalled_socket, max_queue=1) as stalled:
        wait_until("both subscribed", lambda: hub(server).subscribers() == 2, within_s=10)
        seq = 0
        while hub(server).subscribers() == 2:
            seq += 1
            assert seq < 2_000, "the stalled spectator was never dropped"
            publisher.changed({**scores, "seq": float(seq)}, seq)
            got.append(json.loads(reader.recv(timeout=10))["seq"])  # the reader keeps up, each change in turn
        assert all(isinstance(s, WebSocketWire) and s.transport.get_write_buffer_size() < 60_000
                   for s in hub(server)._feeds[T].sinks), "the reader was dropped, not the stalled one"  # fmt: skip
        publisher.changed({"after": 1.0}, seq + 1)
        got.append(json.loads(reader.recv(timeout=10))["seq"])
        try:
            while True:
                stalled.recv(timeout=10)  # what was buffered before the drop, then the close
        except ConnectionClosed as closed:
            close = closed.rcvd
    assert got == list(range(1, seq + 2))
    assert close is not None and close.code == 1008 and close.reason.startswith("too slow")


def test_where_the_transport_is_out_of_reach_a_spectator_is_relayed_through_asgi(redis_url, tmp_path):
    # uvicorn's h11 cycle does not say whether it chunks the body, and Starlette's test client has no transport:
    # there each spectator gets a writer task of its own, and sees the same messages.
    settings = Settings(redis_url=redis_url, data_dir=tmp_path / "data", rate_limit=10_000)
    server = LiveServer(settings)
    server.server.config.http = "h11"
    server.start()
    try:
        open_tournament(server, T)
        client = redis.Redis.from_url(redis_url)
        publisher = LeaderboardPublisher(client, T, max_rate=1_000_000)
        publisher.changed({"a": 1.0}, 1)
        url = f"{server.url}/api/v1/tournaments/{T}/leaderboard/stream"
        with httpx.stream("GET", url, params={"after": "0-0"}, timeout=10) as response:
            lines = response.iter_lines()
            wait_until("subscribed", lambda: hub(server).subscribers() == 1, within_s=10)
            kinds = [type(s).__name__ for s in (*hub(server)._feeds[T].sinks, *hub(server)._feeds[T].joining)]
            event = next(line for line in lines if line.startswith("data: "))
        assert kinds == [Relayed.__name__] and json.loads(event[6:])["scores"] == {"a": 1.0}
        ws = f"/api/v1/tournaments/{T}/leaderboard/ws?after=0-0"
        with warnings.catch_warnings():  # Starlette's own, on its choice of HTTP client
            warnings.simplefilter("ignore", DeprecationWarning)
            from starlette.testclient import TestClient
        app = create_app(settings)  # the same database and Redis, served by Starlette's test client
        with TestClient(app) as test_client, test_client.websocket_connect(ws) as socket:
            assert socket.receive_json()["scores"] == {"a": 1.0}
            relayed = [type(s).__name__ for s in app.state.arena.hub._feeds[T].sinks]
            publisher.changed({"b": 2.0}, 2)
            assert socket.receive_json()["scores"] == {"b": 2.0}
        assert relayed == [Relayed.__name__]
        client.close()
    finally:
        server.stop()


def test_a_websocket_resume_point_that_is_no_stream_id_is_refused_with_1008(served):
    server, _, base = served
    for after in ("abc", "1-2-3", "(1-0", "1" * 21 + "-0"):
        with connect(f"ws://{base}/ws?after={after}") as socket, pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008, after
    assert hub(server).readers() == {}  # refused before any reader started


def test_with_a_delay_live_and_resumed_changes_reach_spectators_only_once_that_old(api, redis_url):
    server = api(spectator_delay_s=1.0, rate_limit=10_000)
    open_tournament(server, T)
    client = redis.Redis.from_url(redis_url)
    publisher = LeaderboardPublisher(client, T, max_rate=1_000_000)
    url = f"ws://127.0.0.1:{server.port}/api/v1/tournaments/{T}/leaderboard/ws"
    publisher.changed({"early": 1.0}, 1)
    arrivals: list[tuple[str, float]] = []
    with connect(f"{url}?after=0-0") as resumed, connect(url) as live:
        wait_until("both subscribed", lambda: hub(server).subscribers() == 2, within_s=10)
        publisher.changed({"late": 2.0}, 2)
        for socket, count in ((resumed, 2), (live, 1)):
            for _ in range(count):
                arrivals.append((json.loads(socket.recv(timeout=10))["id"], time.time()))
    client.close()
    assert len(arrivals) == 3
    for stream_id, arrived in arrivals:  # a stream id's first part is when Redis added the change, in ms
        assert arrived * 1000 >= int(stream_id.split("-")[0]) + 1000 - 1, (stream_id, arrived)
