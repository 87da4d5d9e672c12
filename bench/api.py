"""API benchmark: WebSocket spectators one API process serves at 10 leaderboard updates per second.

Prints one JSON object. The API runs as its own process (uvicorn, one worker) against a private
redis-server; spectators are asyncio WebSocket clients in another process; this process publishes
10 changes per second, each stamped with its wall-clock time, and the clients measure delivery.
Each step runs the same clients against a peer in the same run: a minimal broadcast server on the
`websockets` library alone, reading the same change stream (its p99, and Arena's ratio to it).
Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import httpx  # noqa: E402
import redis  # noqa: E402
import websockets  # noqa: E402

from arena.runtime.leaderboard import LeaderboardPublisher  # noqa: E402
from arena.runtime.redis_server import RedisServer, free_port  # noqa: E402

T = "bench-ws"


def _clients(url: str, n: int, seconds: float, out: mp.Queue) -> None:
    async def one(latencies: list[float], connected: list[int]) -> None:
        try:
            async with websockets.connect(url, open_timeout=30, max_queue=None) as socket:
                connected[0] += 1
                deadline = time.time() + seconds
                while (left := deadline - time.time()) > 0:
                    try:
                        raw = await asyncio.wait_for(socket.recv(), timeout=left)
                    except TimeoutError:
                        break
                    message = json.loads(raw)
                    if message.get("type") == "leaderboard":
                        latencies.append(time.time() * 1000 - message["ts"])
        except (OSError, websockets.WebSocketException, TimeoutError):
            pass

    async def main() -> tuple[list[float], int]:
        latencies: list[float] = []
        connected = [0]
        await asyncio.gather(*(one(latencies, connected) for _ in range(n)))
        return latencies, connected[0]

    latencies, connected = asyncio.run(main())
    out.put((latencies, connected))


def _peer_server(port: int, redis_url: str) -> None:
    """The peer: a minimal broadcast server on the `websockets` library alone. It reads the same change stream
    and writes each change, encoded once as Arena encodes it, to every connected socket (websockets.broadcast)."""

    async def main() -> None:
        from redis import asyncio as aioredis
        from websockets.asyncio.server import broadcast, serve

        from arena.runtime.leaderboard import LeaderboardKeys, decode_change
        from arena.runtime.streams import entry_field, streams

        connected: set[Any] = set()

        async def handler(socket: Any) -> None:
            connected.add(socket)
            try:
                await socket.wait_closed()
            finally:
                connected.discard(socket)

        client = aioredis.Redis.from_url(redis_url)
        key, last = LeaderboardKeys.for_tournament(T).changes, "$"
        async with serve(handler, "127.0.0.1", port, max_queue=None):
            while True:
                for _key, found in streams(await client.xread({key: last}, block=1000)):
                    for raw_id, fields in found:
                        last = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
                        change = decode_change(entry_field(fields, "change"), last)
                        body = {"type": "leaderboard", "id": last, "seq": change.seq, "ts": change.ts,
                                "tick": change.tick, "scores": change.scores}  # fmt: skip
                        broadcast(connected, json.dumps(body, separators=(",", ":")))

    asyncio.run(main())


def measure(url: str, redis_url: str, clients: int, seconds: float = 6.0) -> dict[str, float]:
    out: mp.Queue = mp.get_context("fork").Queue()
    # Two client processes: one Python process cannot drive thousands of sockets and time them too.
    procs = [
        mp.get_context("fork").Process(target=_clients, args=(url, clients // 2, seconds + 4, out)) for _ in range(2)
    ]
    for p in procs:
        p.start()
    time.sleep(3.0)  # let the clients connect before the measured updates start (a benchmark, not a test)
    client = redis.Redis.from_url(redis_url)
    publisher = LeaderboardPublisher(client, T, max_rate=10.0)
    end = time.time() + seconds
    i = 0
    while time.time() < end:
        i += 1
        publisher.changed({f"bot-{i % 100}": float(i)}, int(time.time() * 1000))
        time.sleep(0.1)
    latencies: list[float] = []
    connected = 0
    for _ in procs:
        got, n = out.get(timeout=120)
        latencies += got
        connected += n
    for p in procs:
        p.join(timeout=30)
    client.close()
    latencies.sort()
    expected = connected * (i - 1)
    return {
        "clients": clients,
        "connected": connected,
        "updates_published": i,
        "delivered_share": len(latencies) / expected if expected else 0.0,
        "p50_ms": latencies[len(latencies) // 2] if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99)] if latencies else float("nan"),
    }


def create_admin(env: dict[str, str]) -> str:
    """An admin's API key, made by the CLI against the API's database."""
    command = [str(Path(sys.executable).with_name("arena")), "create-contestant", "bench-admin", "--admin"]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout.strip()


def open_tournament(api_url: str, admin: str) -> None:
    """Spectators may stream only a public tournament: create T and open it (it never starts; the bench publishes)."""
    with httpx.Client(base_url=f"{api_url}/api/v1/admin", timeout=30, headers={"X-API-Key": admin}) as http:
        http.post("/tournaments", json={"slug": T, "name": "Spectator bench"}).raise_for_status()
        http.post(f"/tournaments/{T}/open").raise_for_status()


def upload_to_ready(api_url: str, admin: str, runs: int = 5) -> dict[str, float]:
    """Upload an example bot and poll its version until the smoke test's verdict; the median of ``runs``."""
    with httpx.Client(base_url=f"{api_url}/api/v1", timeout=30) as http:
        key = http.post("/admin/contestants", json={"name": "bench"}, headers={"X-API-Key": admin}).json()["api_key"]
        source = (Path(__file__).resolve().parents[1] / "examples/bots/sma_crossover.py").read_bytes()
        timings = []
        for i in range(runs):
            started = time.perf_counter()
            http.post(f"/bots/b{i}/versions", files={"file": ("bot.py", source)}, headers={"X-API-Key": key})
            while http.get(f"/bots/b{i}/versions/1", headers={"X-API-Key": key}).json()["status"] == "pending":
                time.sleep(0.005)
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {"runs": runs, "median_ms": timings[len(timings) // 2], "max_ms": timings[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", default="250,500,1000,2000")
    args = parser.parse_args()
    with RedisServer() as server:
        port = free_port()
        data = tempfile.mkdtemp(prefix="arena-bench-api-")
        env = dict(os.environ, ARENA_REDIS_URL=server.url, ARENA_RATE_LIMIT="1000000", ARENA_DATA_DIR=data)
        api = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "arena.api.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(port), "--log-level", "warning", "--ws-max-queue", "1000"],
            env=env,
        )  # fmt: skip
        peer_port = free_port()
        peer = mp.get_context("fork").Process(target=_peer_server, args=(peer_port, server.url), daemon=True)
        peer.start()
        try:
            for _ in range(100):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            admin = create_admin(env)
            open_tournament(f"http://127.0.0.1:{port}", admin)
            uploads = upload_to_ready(f"http://127.0.0.1:{port}", admin)
            arena_url = f"ws://127.0.0.1:{port}/api/v1/tournaments/{T}/leaderboard/ws"
            runs: list[dict[str, Any]] = []
            for n in args.steps.split(","):
                # The same clients and frames against Arena, then against the peer, in the same run.
                mine = measure(arena_url, server.url, int(n))
                theirs = measure(f"ws://127.0.0.1:{peer_port}/", server.url, int(n))
                runs.append({**mine, "peer_websockets": theirs,
                             "p99_ratio_to_peer": round(mine["p99_ms"] / theirs["p99_ms"], 2)})  # fmt: skip
                print(json.dumps(runs[-1]), file=sys.stderr)
        finally:
            api.kill()  # open WebSockets would hold up a graceful shutdown
            api.wait(10)
            peer.kill()
            peer.join(10)
    good = [r for r in runs if r["connected"] == r["clients"] and r["p99_ms"] < 100 and r["delivered_share"] > 0.95]
    best = max(good, key=lambda r: r["clients"]) if good else None
    print(json.dumps({
        "ws_clients": best["clients"] if best else 0,
        "ws_delivery_p99_ms": round(best["p99_ms"], 2) if best else None,
        "upload_to_ready_ms": round(uploads["median_ms"], 1),
        "upload_to_ready": uploads,
        "runs": runs,
        "targets": {"ws_clients": 2000, "ws_delivery_p99_ms": 100, "upload_to_ready_ms": 2000},
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
