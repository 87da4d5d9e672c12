"""A real webhook receiver on loopback, and a fake clock whose sleep advances it (no real sleeping)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from arena.webhooks.delivery import AddressPolicy, PortSet
from arena.webhooks.signing import verify

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks example secret
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
ANY_PORT = PortSet.parse("1-65535")
LOOPBACK = AddressPolicy(allow_loopback=True, ports=ANY_PORT)  # the receivers listen on free loopback ports


class FakeClock:
    """Unix seconds that move only when someone sleeps. Shared by the deliverer and the receiver."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds


# What the receiver does with the next request (then defaults to "ok"):
#   ("fail", status, headers)      answer without processing
#   ("process_then", status)       process the event, then answer with status (the answer is "lost")
#   ("process_then_hang", event)   process, then hold the answer until `event` is set (a timeout)
Action = tuple[Any, ...]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verdict: str  # "processed", "duplicate", "bad_signature:<code>", "failed:<status>"
    at: float = field(default_factory=time.monotonic)  # when it arrived


@dataclass
class Receiver:
    clock: FakeClock
    secrets: list[str] = field(default_factory=lambda: [SECRET])
    script: list[Action] = field(default_factory=list)
    # verify(secrets, headers, body, now) raising on failure; default arena's own
    verifier: Callable[..., Any] | None = None
    requests: list[Received] = field(default_factory=list)
    processed: dict[str, int] = field(default_factory=dict)  # event id -> times processed
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        body = handler.rfile.read(length)
        headers = {k: v for k, v in handler.headers.items()}
        with self.lock:
            action = self.script.pop(0) if self.script else ("ok",)
        if action[0] == "fail":
            self._record(headers, body, f"failed:{action[1]}")
            self._answer(handler, action[1], action[2] if len(action) > 2 else {})
            return
        check = self.verifier or verify
        try:
            check(self.secrets, headers, body, self.clock.time())
        except Exception as exc:  # SignatureError, or the library's WebhookVerificationError (the doc snippet)
            self._record(headers, body, f"bad_signature:{getattr(exc, 'code', type(exc).__name__)}")
            self._answer(handler, 400, {})
            return
        event_id = json.loads(body)["id"]  # the signed body's id, not the header's
        with self.lock:
            duplicate = event_id in self.processed
            if not duplicate:
                self.processed[event_id] = self.processed.get(event_id, 0) + 1
        self._record(headers, body, "duplicate" if duplicate else "processed")
        if duplicate:
            self._answer(handler, 200, {})
        elif action[0] == "process_then":
            self._answer(handler, action[1], {})
        elif action[0] == "process_then_hang":
            action[1].wait(10)  # bounded; the test releases it
            self._answer(handler, 200, {})
        else:
            self._answer(handler, 200, {})

    def _record(self, headers: dict[str, str], body: bytes, verdict: str) -> None:
        with self.lock:
            self.requests.append(Received(headers, body, verdict))

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str]) -> None:
        try:
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass


@contextmanager
def serve(state: Receiver) -> Iterator[Receiver]:
    """Run ``state`` as an HTTP server on 127.0.0.1 at a free port, in a thread, for the block."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            state.handle(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- hostile receivers -----------------------------------------------------------------------------------


@dataclass
class Slowloris:
    """Accepts, reads the request, then never finishes its answer: ``dribble`` sends a status line one byte
    every ``every_s`` (each read gets a byte, so a per-read timeout never fires); ``silent`` sends nothing.
    Records each connection's lifetime, ended by the client hanging up (or by ``give_up_s``, a bound)."""

    mode: str = "dribble"
    every_s: float = 0.1
    give_up_s: float = 30.0
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    open_now: int = 0
    most_open: int = 0
    lifetimes: list[float] = field(default_factory=list)  # seconds from accept to the client hanging up
    stop: threading.Event = field(default_factory=threading.Event)

    def handle(self, conn: socket.socket) -> None:
        started = time.monotonic()
        with self.lock:
            self.open_now += 1
            self.most_open = max(self.most_open, self.open_now)
        try:
            conn.settimeout(self.every_s)
            with contextlib.suppress(OSError):
                conn.recv(65536)  # the request (small): what is left unread does not matter
            answer = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 100_000
            sent = 0
            while not self.stop.is_set() and time.monotonic() - started < self.give_up_s:
                try:
                    if self.mode == "dribble":
                        conn.sendall(answer[sent % len(answer) : sent % len(answer) + 1])
                        sent += 1
                    if conn.recv(1) == b"":  # the client hung up
                        break
                except TimeoutError:
                    continue  # nothing from the client within every_s: go on dribbling
                except OSError:  # reset: the client hung up
                    break
        finally:
            conn.close()
            with self.lock:
                self.open_now -= 1
                self.lifetimes.append(time.monotonic() - started)


@contextmanager
def serve_slowloris(state: Slowloris) -> Iterator[Slowloris]:
    """Run ``state`` on 127.0.0.1 at a free port, a thread per connection, for the block."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.05)

    def accept() -> None:
        while not state.stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=state.handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
    try:
        yield state
    finally:
        state.stop.set()
        thread.join(5)
        listener.close()
