"""API benchmark: WebSocket and SSE spectators that API processes serve at 10 leaderboard updates per second.

Prints one JSON object. The API runs as its own processes (``--processes`` uvicorn processes on as many ports, the
spectators spread evenly over them, as behind a load balancer) against a private redis-server; this process
publishes 10 changes per second, each stamped with its wall-clock time, and the spectators measure delivery.

The spectators are raw asyncio protocols on uvloop in ``--client-procs`` processes of their own: each speaks just
enough WebSocket (the upgrade, unmasked server frames, pongs) or HTTP/1.1 chunked server-sent events to read every
message, parse its JSON and time it, so one process can keep thousands of sockets and the clients' CPU (printed)
stays well below the server's. Each step also runs the same clients against a peer in the same run (as many
processes as the API's), reading the same change stream and sending the same frames (``spectator_frames.encode``):
over WebSocket a minimal broadcast server on the `websockets` library alone (compression off as for Arena's frames),
over SSE one on bare asyncio that writes each change's chunk to every transport (no HTTP framework at all); it
prints Arena's p99 ratio to it. Server and client CPU are seconds of CPU per second of the measured window (the
machine's cores are shared by all of them). Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import httpx  # noqa: E402
import redis  # noqa: E402

from arena.runtime.leaderboard import LeaderboardPublisher  # noqa: E402
from arena.runtime.redis_server import RedisServer, free_port  # noqa: E402
from arena.service.spectator_frames import encode, http_chunk  # noqa: E402

T = "bench-ws"
WS_PATH = f"/api/v1/tournaments/{T}/leaderboard/ws"
SSE_PATH = f"/api/v1/tournaments/{T}/leaderboard/stream"
CTX = mp.get_context("fork")


class _Spectator(asyncio.Protocol):
    """One spectator's connection: sends its request, then reads messages and times the leaderboard ones."""

    def __init__(self, request: bytes, tally: _Tally) -> None:
        self.request, self.tally = request, tally
        self.buffer = bytearray()
        self.open = False
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_result(False)
        if self.open:
            self.tally.lost += 1  # a spectator the server closed or cut during the step

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.open:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            del self.buffer[: end + 4]
            self.open = self.accepted(head)
            self.ready.set_result(self.open)
            if not self.open:
                assert self.transport is not None
                self.transport.close()
                return
        self.read()

    def message(self, payload: bytes) -> None:
        # Only the stamp is read (the fields' order is spectator_frames.change_json's): parsing the whole message
        # cost the clients as much CPU as the server's writes, which on two cores left the server less.
        if payload.startswith(b'{"type":"leaderboard",'):
            at = payload.index(b',"ts":') + 6
            self.tally.latencies.append(time.time() * 1000 - float(payload[at : payload.index(b",", at)]))

    def accepted(self, head: bytes) -> bool:
        raise NotImplementedError

    def read(self) -> None:
        raise NotImplementedError


class _WebSocket(_Spectator):
    def accepted(self, head: bytes) -> bool:
        return head.startswith(b"http/1.1 101")

    def read(self) -> None:
        buffer = self.buffer
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            assert not second & 0x80, "a server frame is masked"
            size, start = second & 0x7F, 2
            if size == 126:
                size, start = int.from_bytes(buffer[2:4]), 4
            elif size == 127:
                size, start = int.from_bytes(buffer[2:10]), 10
            if len(buffer) < start + size:
                return
            payload = bytes(buffer[start : start + size])
            del buffer[: start + size]
            opcode = first & 0x0F
            if opcode == 1:
                self.message(payload)
            elif opcode == 9:  # a ping: pong, masked (with a zero key) as a client must
                assert self.transport is not None
                self.transport.write(bytes((0x8A, 0x80 | len(payload))) + b"\0\0\0\0" + payload)
            elif opcode == 8:
                self.tally.closes[int.from_bytes(payload[:2]) if payload else 1005] += 1


class _EventStream(_Spectator):
    def __init__(self, request: bytes, tally: _Tally) -> None:
        super().__init__(request, tally)
        self.events = bytearray()

    def accepted(self, head: bytes) -> bool:
        return head.startswith(b"http/1.1 200") and b"transfer-encoding: chunked" in head

    def read(self) -> None:
        buffer = self.buffer
        while (line := buffer.find(b"\r\n")) >= 0:
            size = int(buffer[:line], 16)
            if len(buffer) < line + 2 + size + 2:
                break
            self.events += buffer[line + 2 : line + 2 + size]
            del buffer[: line + 2 + size + 2]
        while (end := self.events.find(b"\n\n")) >= 0:
            event = bytes(self.events[:end])
            del self.events[: end + 2]
            if b"event: leaderboard" in event:
                self.message(event[event.index(b"\ndata: ") + 7 :])


class _Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.closes: Counter[int] = Counter()
        self.lost = 0


def _request(kind: str) -> bytes:
    if kind == "ws":
        key = base64.b64encode(os.urandom(16)).decode()
        return (f"GET {WS_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()  # fmt: skip
    return f"GET {SSE_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()


def _clients(kind: str, ports: list[int], n: int, first: int, start: Any, stop: Any, out: Any) -> None:
    """``n`` spectators of one kind over ``ports`` (client ``first + i`` on port ``(first + i) % len(ports)``)."""
    import uvloop

    async def main() -> None:
        tally = _Tally()
        loop = asyncio.get_running_loop()
        protocol = _WebSocket if kind == "ws" else _EventStream
        gate = asyncio.Semaphore(64)  # connects in flight at once

        async def connect(i: int) -> bool:
            port = ports[(first + i) % len(ports)]
            async with gate:
                try:
                    _, spectator = await loop.create_connection(
                        lambda: protocol(_request(kind), tally), "127.0.0.1", port
                    )
                    return await asyncio.wait_for(spectator.ready, 60)
                except (OSError, TimeoutError):
                    return False

        connected = sum(await asyncio.gather(*(connect(i) for i in range(n))))
        out.put(("ready", connected))
        await loop.run_in_executor(None, start.wait)
        before = resource.getrusage(resource.RUSAGE_SELF)
        await loop.run_in_executor(None, stop.wait)
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        out.put(("done", connected - tally.lost, tally.latencies, dict(tally.closes), cpu))

    uvloop.run(main())


class _PeerEvents(asyncio.Protocol):
    """The SSE peer's connection: any request gets the event stream's head, then every change as one chunk."""

    def __init__(self, streams: set[asyncio.Transport]) -> None:
        self.streams, self.head = streams, bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.transport is None or self.transport in self.streams:
            return  # what a spectator sends after its request is dropped
        self.head += data
        if b"\r\n\r\n" in self.head:
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n" + http_chunk(b"retry: 2000\n\n"))  # fmt: skip
            self.streams.add(self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.streams.discard(cast(asyncio.Transport, self.transport))


def _peer_server(ws_port: int, sse_port: int, redis_url: str) -> None:
    """The peer: minimal broadcast servers reading the same change stream and writing each change, encoded once by
    Arena's encoder, to every connected spectator: over WebSocket on the `websockets` library alone
    (websockets.broadcast), over SSE on bare asyncio (each change's chunk written to every transport)."""

    async def main() -> None:
        from redis import asyncio as aioredis
        from websockets.asyncio.server import broadcast, serve

        from arena.runtime.leaderboard import LeaderboardKeys, decode_change
        from arena.runtime.streams import entry_field, streams

        sockets: set[Any] = set()
        events: set[asyncio.Transport] = set()

        async def handler(socket: Any) -> None:
            sockets.add(socket)
            try:
                await socket.wait_closed()
            finally:
                sockets.discard(socket)

        client = aioredis.Redis.from_url(redis_url)
        key, last = LeaderboardKeys.for_tournament(T).changes, "$"
        await asyncio.get_running_loop().create_server(lambda: _PeerEvents(events), "127.0.0.1", sse_port)
        async with serve(handler, "127.0.0.1", ws_port, max_queue=None, compression=None):
            while True:
                for _key, found in streams(await client.xread({key: last}, block=1000)):
                    for raw_id, fields in found:
                        last = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
                        frames = encode(decode_change(entry_field(fields, "change"), last))
                        broadcast(sockets, frames.text)
                        for transport in events:
                            transport.write(frames.event_chunk)

    import uvloop

    uvloop.run(main())


def _cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) the processes have used so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / os.sysconf("SC_CLK_TCK")


def _quantile(values: list[float], q: float) -> float:
    return round(values[min(len(values) - 1, int(len(values) * q))], 1) if values else float("nan")


def measure(kind: str, ports: list[int], server_pids: list[int], redis_url: str, clients: int, seconds: float,
            client_procs: int) -> dict[str, Any]:  # fmt: skip
    """``clients`` spectators of ``kind`` spread over ``ports``; ``seconds`` of 10 updates a second."""
    out: Any = CTX.Queue()
    start, stop = CTX.Event(), CTX.Event()
    shares = [clients // client_procs + (1 if i < clients % client_procs else 0) for i in range(client_procs)]
    firsts = [sum(shares[:i]) for i in range(client_procs)]
    procs = [CTX.Process(target=_clients, args=(kind, ports, n, first, start, stop, out))
             for n, first in zip(shares, firsts, strict=True)]  # fmt: skip
    connect_cpu = _cpu_s(server_pids)
    connect_started = time.perf_counter()
    for p in procs:
        p.start()
    connected = sum(out.get(timeout=300)[1] for _ in procs)
    connect_s = time.perf_counter() - connect_started
    connect_cpu = _cpu_s(server_pids) - connect_cpu
    client = redis.Redis.from_url(redis_url)
    publisher = LeaderboardPublisher(client, T, max_rate=1_000.0)  # every call publishes: this loop keeps 10/s
    start.set()
    server_cpu = _cpu_s(server_pids)
    began = time.perf_counter()
    published = 0
    while time.perf_counter() - began < seconds:
        published += 1
        publisher.changed({f"bot-{published % 100}": float(published)}, int(time.time() * 1000))
        time.sleep(max(0.0, began + published * 0.1 - time.perf_counter()))
    time.sleep(1.0)  # the last update's delivery
    window = time.perf_counter() - began
    server_cpu = _cpu_s(server_pids) - server_cpu
    stop.set()
    latencies: list[float] = []
    still, client_cpu, closes = 0, 0.0, Counter[int]()
    for _ in procs:
        _, n, got, closed, cpu = out.get(timeout=120)
        still += n
        latencies += got
        closes.update(closed)
        client_cpu += cpu
    for p in procs:
        p.join(timeout=30)
    client.close()
    latencies.sort()
    expected = connected * published
    return {
        "kind": kind,
        "clients": clients,
        "connected": connected,
        "connected_at_end": still,
        "connect_s": round(connect_s, 1),
        "connect_server_cpu_ms_each": round(connect_cpu * 1000 / connected, 2) if connected else None,
        "updates_published": published,
        "delivered_share": round(len(latencies) / expected, 4) if expected else 0.0,
        "p50_ms": _quantile(latencies, 0.5),
        "p99_ms": _quantile(latencies, 0.99),
        "max_ms": round(latencies[-1], 1) if latencies else float("nan"),
        "server_cpu_per_s": round(server_cpu / window, 2),
        "client_cpu_per_s": round(client_cpu / window, 2),
        "closes": {str(code): n for code, n in closes.items()},
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


def start_api(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "arena.api.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        env=env,
    )  # fmt: skip


def wait_healthy(port: int) -> None:
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"the API on port {port} did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", default="500,1000,2000", help="spectator counts, comma-separated")
    parser.add_argument("--kinds", default="ws,sse", help="ws, sse or both (comma-separated)")
    parser.add_argument("--processes", type=int, default=1, help="API processes (and peer processes), one port each")
    parser.add_argument("--client-procs", type=int, default=2, help="processes the spectators are spread over")
    parser.add_argument("--seconds", type=float, default=6.0, help="measured window of each step, 10 updates/s")
    parser.add_argument("--no-peer", action="store_true", help="skip the peer servers")
    parser.add_argument("--no-upload", action="store_true", help="skip the upload-to-ready timing")
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    runs: list[dict[str, Any]] = []
    uploads: dict[str, float] | None = None
    with RedisServer() as server:
        ports = [free_port() for _ in range(args.processes)]
        data = tempfile.mkdtemp(prefix="arena-bench-api-")
        # Caps raised above the steps: the bench measures delivery, not the hub's admission caps (2,000 a feed).
        env = dict(os.environ, ARENA_REDIS_URL=server.url, ARENA_RATE_LIMIT="1000000", ARENA_DATA_DIR=data,
                   ARENA_STREAM_MAX_PER_FEED="20000", ARENA_STREAM_MAX_TOTAL="20000")  # fmt: skip
        apis = [start_api(env, ports[0])]
        wait_healthy(ports[0])  # the first one migrates the database; then the others start beside it
        apis += [start_api(env, port) for port in ports[1:]]
        peer_ports = {kind: [free_port() for _ in range(args.processes)] for kind in ("ws", "sse")}
        pairs = zip(peer_ports["ws"], peer_ports["sse"], strict=True)
        peers = [] if args.no_peer else [CTX.Process(target=_peer_server, args=(*pair, server.url), daemon=True)
                                         for pair in pairs]  # fmt: skip
        for peer in peers:
            peer.start()
        try:
            for port in ports[1:]:
                wait_healthy(port)
            admin = create_admin(env)
            open_tournament(f"http://127.0.0.1:{ports[0]}", admin)
            if not args.no_upload:
                uploads = upload_to_ready(f"http://127.0.0.1:{ports[0]}", admin)
            api_pids = [api.pid for api in apis]
            peer_pids = [p.pid for p in peers if p.pid is not None]
            for n in (int(s) for s in args.steps.split(",")):
                for kind in kinds:
                    mine = measure(kind, ports, api_pids, server.url, n, args.seconds, args.client_procs)
                    mine["processes"] = args.processes
                    if peers:  # the same clients and frames against the peer, in the same run
                        theirs = measure(kind, peer_ports[kind], peer_pids, server.url, n, args.seconds,
                                         args.client_procs)  # fmt: skip
                        mine["peer"] = theirs
                        mine["p99_ratio_to_peer"] = round(mine["p99_ms"] / theirs["p99_ms"], 2)
                    runs.append(mine)
                    print(json.dumps(runs[-1]), file=sys.stderr)
        finally:
            for api in apis:
                api.kill()  # open connections would hold up a graceful shutdown
                api.wait(10)
            for peer in peers:
                peer.kill()
                peer.join(10)

    def best(kind: str) -> dict[str, Any] | None:
        good = [r for r in runs if r["kind"] == kind and r["connected"] == r["clients"] and r["p99_ms"] < 100
                and r["delivered_share"] > 0.99]  # fmt: skip
        return max(good, key=lambda r: r["clients"]) if good else None

    summary: dict[str, Any] = {"processes": args.processes}
    for kind in kinds:
        top = best(kind)
        summary[f"{kind}_clients"] = top["clients"] if top else 0
        summary[f"{kind}_delivery_p99_ms"] = top["p99_ms"] if top else None
    if uploads is not None:
        summary |= {"upload_to_ready_ms": round(uploads["median_ms"], 1), "upload_to_ready": uploads}
    print(json.dumps({
        **summary,
        "runs": runs,
        "targets": {"ws_clients": 2000 if args.processes == 1 else 10000, "sse_clients": 2000,
                    "delivery_p99_ms": 100, "upload_to_ready_ms": 2000},
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
