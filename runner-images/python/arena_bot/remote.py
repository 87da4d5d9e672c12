"""Run a bot from your own machine: ``connect(url, key, secret, MyBot)`` speaks protocol v1 with the Arena bot
gateway over a WebSocket, so the same bot file runs under ``arena backtest``, in a sandbox (``run``) and remotely.

    from arena_bot import Bot, connect, run

    class MyBot(Bot): ...

    if __name__ == "__main__":
        if os.environ.get("ARENA_GATEWAY"):
            connect(os.environ["ARENA_GATEWAY"], os.environ["ARENA_KEY"], os.environ["ARENA_SECRET"], MyBot)
        else:
            run(MyBot)

``url`` is ``ws://`` or ``wss://<host>/api/v1/gateway/<tournament>/<bot>``: the tournament and your remote entry
of the bot in it. The handshake is signed with HMAC-SHA256 under ``secret`` (the secret itself is never sent; see
docs/remote-bots.md for the canonical string). A refusal raises ``GatewayRefused`` with its code.

Standard library only: a small RFC 6455 client (text frames, fragmentation, ping/pong, close), so the SDK stays
dependency-free everywhere it runs. The protocol loop is the stdio runner's own (``arena_bot.runner``): what the bot
sees and sends, and when ``done`` goes out, is the same in both.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import random
import secrets
import socket
import struct
import sys
import time
from typing import BinaryIO, TextIO, cast
from urllib.parse import urlsplit

from arena_bot.bot import Bot
from arena_bot.runner import _loop, _report

SCHEME = "ARENA-HMAC-SHA256"
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # one host message (a tick's batch): far above any real one
_HEADER_BYTES = 16 * 1024
PATIENCE_S = 120.0  # how long a dropped bot keeps trying to reconnect, by default
# Closes that end the bot's run for good: the tournament ended (1000), the host cut it off (1008) or it sent too big a
# message (1009). Any other way a connection ends (no close at all: a dead API process; 1012: one stopping) is a
# drop, and the bot reconnects.
FINAL_CLOSES = (1000, 1008, 1009)
# Refusals worth retrying while reconnecting: the dead connection's live mark lapses within seconds; a rate limit.
RETRY_REFUSALS = ("ALREADY_CONNECTED", "RATE_LIMITED", "HANDSHAKE_FAILED", "CLOSED")


class GatewayRefused(ConnectionError):
    """The gateway refused the connection: ``code`` says why (BAD_SIGNATURE, STALE_TIMESTAMP, NOT_ENTERED, ...)."""

    def __init__(self, code: str, message: str, close_code: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.close_code = code, message, close_code


def signature(secret: str, method: str, path: str, query: str, timestamp: str, nonce: str, body: bytes = b"") -> str:
    """Hex HMAC-SHA256 of the canonical string of a request (docs/remote-bots.md)."""
    canonical = "\n".join((SCHEME, method.upper(), path, query, timestamp, nonce, hashlib.sha256(body).hexdigest()))
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def signed_headers(key: str, secret: str, method: str, path: str, query: str = "", body: bytes = b"",
                   now: float | None = None) -> dict[str, str]:  # fmt: skip
    """The four headers of a signed request (the gateway's handshake, or a REST call)."""
    timestamp, nonce = str(int(time.time() if now is None else now)), secrets.token_urlsafe(24)
    return {"X-Arena-Key": key, "X-Arena-Timestamp": timestamp, "X-Arena-Nonce": nonce,
            "X-Arena-Signature": signature(secret, method, path, query, timestamp, nonce, body)}  # fmt: skip


class WebSocket:
    """A minimal client WebSocket: ``send`` text, ``receive`` whole messages (None once closed)."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"a gateway URL is ws://host/... or wss://host/..., got {url!r}")
        port = parts.port or (443 if parts.scheme == "wss" else 80)
        raw = socket.create_connection((parts.hostname, port), timeout=timeout)
        if parts.scheme == "wss":
            import ssl  # only here: a sandboxed bot imports this module too, and never needs TLS

            raw = ssl.create_default_context().wrap_socket(raw, server_hostname=parts.hostname)
        self._sock = raw
        self._file = raw.makefile("rb")
        self.close_code: int | None = None
        self.close_reason = ""
        self._closed = False
        self._handshake(parts.hostname, port, (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                        headers or {})  # fmt: skip
        raw.settimeout(None)  # the host may be quiet between ticks; it pings a quiet bot itself

    def _handshake(self, host: str, port: int, target: str, headers: dict[str, str]) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {target} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
                 *(f"{name}: {value}" for name, value in headers.items())]  # fmt: skip
        self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        status = self._file.readline(_HEADER_BYTES)
        answer: dict[str, str] = {}
        while True:
            line = self._file.readline(_HEADER_BYTES)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            answer[name.strip().lower()] = value.strip()
        if b" 101 " not in status:
            raise GatewayRefused("HANDSHAKE_FAILED", f"the server answered {status.decode('latin-1').strip()!r}")
        expected = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
        if answer.get("sec-websocket-accept") != expected:
            raise GatewayRefused("HANDSHAKE_FAILED", "the server's Sec-WebSocket-Accept does not match")

    def send(self, text: str | bytes, opcode: int = 0x1) -> None:
        payload = text.encode() if isinstance(text, str) else text
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        self._sock.sendall(header + mask + _mask(payload, mask))

    def receive(self) -> bytes | None:
        """The next whole data message; None once the connection is closed (``close_code`` says how)."""
        parts: list[bytes] = []
        size = 0
        while not self._closed:
            head = self._file.read(2)
            if len(head) < 2:
                self._closed = True
                return None
            fin, opcode, length = head[0] & 0x80, head[0] & 0x0F, head[1] & 0x7F
            if length == 126:
                length = struct.unpack("!H", self._file.read(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", self._file.read(8))[0]
            mask = self._file.read(4) if head[1] & 0x80 else None
            if size + length > MAX_MESSAGE_BYTES:
                self.close(1009, "message too big")
                return None
            payload = self._file.read(length)
            if mask:
                payload = _mask(payload, mask)
            if opcode == 0x8:  # close: answer it, and that is the end
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                self.close_reason = payload[2:].decode("utf-8", "replace")
                self.close(self.close_code or 1000)
                return None
            if opcode == 0x9:
                self.send(payload, 0xA)
                continue
            if opcode == 0xA:
                continue
            parts.append(payload)
            size += length
            if fin:
                return b"".join(parts)
        return None

    def close(self, code: int = 1000, reason: str = "") -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(OSError):
                self.send(struct.pack("!H", code) + reason.encode()[:120], 0x8)
        with contextlib.suppress(OSError):
            self._sock.close()


def _mask(payload: bytes, mask: bytes) -> bytes:
    whole = (mask * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(whole, "big")).to_bytes(len(payload), "big")


class _Reader:
    """The connection as the runner's input: ``readline`` hands out the lines of each message in turn."""

    def __init__(self, ws: WebSocket, greeting: str = "", err: TextIO | None = None) -> None:
        self._ws = ws
        self._greeting, self._err = greeting, err  # said once the host greets the bot (a resumed connection's)
        self._lines: list[bytes] = []
        self.first_error: bytes | None = None  # a refusal's error message, sent before any hello
        self.greeted = False
        self.ended = False  # the host sent ``end``: the tournament is over for this bot

    def readline(self, limit: int = -1) -> bytes:
        while not self._lines:
            message = self._ws.receive()
            if message is None:
                return b""
            self._lines = [line + b"\n" for line in message.split(b"\n") if line.strip()]
            if not self.greeted and self._lines:
                self.greeted = b'"hello"' in self._lines[0]
                if self.greeted and self._greeting and self._err is not None:
                    print(self._greeting, file=self._err)
                if not self.greeted and b'"error"' in self._lines[0] and self.first_error is None:
                    self.first_error = self._lines[0]
        line = self._lines.pop(0)
        self.ended = self.ended or line.startswith(b'{"type":"end"')
        return line


class _Writer:
    """The runner's output as messages: what it writes between flushes goes out as one message (a tick's lines)."""

    def __init__(self, ws: WebSocket) -> None:
        self._ws, self._buffer = ws, bytearray()

    def write(self, data: bytes) -> int:
        self._buffer += data
        return len(data)

    def flush(self) -> None:
        if self._buffer:
            self._ws.send(bytes(self._buffer))
            self._buffer.clear()


def connect(url: str, key: str, secret: str, bot: type[Bot] | Bot, *, raise_errors: bool = False,
            stderr: TextIO | None = None, timeout: float = 30.0, patience_s: float = PATIENCE_S,
            backoff_s: float = 0.25, backoff_cap_s: float = 8.0) -> int:  # fmt: skip
    """Run ``bot`` (a Bot subclass or instance) against the gateway at ``url`` until the tournament ends; returns 0
    (1 if ``raise_errors`` and a callback raised; 3 if a dropped connection could not be resumed within
    ``patience_s``). Raises GatewayRefused when the gateway turns the bot away at first.

    A connection that drops (the API process holding it died or stopped, the network failed) is resumed: the bot
    reconnects with a fresh signed handshake, after a backoff doubling from ``backoff_s`` to ``backoff_cap_s`` with
    jitter, for at most ``patience_s``. The same bot instance goes on: the host sends ``hello`` again (``on_start`` is
    not called twice), its latest ``portfolio``, and the tick it resumes at; the books resync by sequence number.
    The host keeps a dropped bot for its grace (docs/remote-bots.md); the ticks it misses meanwhile it has no orders
    in."""
    err = stderr or sys.stderr
    try:
        instance = bot() if isinstance(bot, type) else bot
    except Exception:
        _report(err, "the bot could not be created")
        return 1
    parts = urlsplit(url)
    resuming, delay, give_up = False, backoff_s, float("inf")
    while True:
        reader: _Reader | None = None
        status: int | None = None
        try:
            ws = WebSocket(url, signed_headers(key, secret, "GET", parts.path or "/", parts.query), timeout=timeout)
            reader = _Reader(ws, "arena: reconnected to the gateway; resuming" if resuming else "", err)
            try:
                status = _loop(instance, cast(BinaryIO, reader), cast(BinaryIO, _Writer(ws)), err, raise_errors)
            finally:
                ws.close()
            if not reader.greeted:
                error = _json_object(reader.first_error)
                raise GatewayRefused(str(error.get("code", "CLOSED")), str(error.get("message", ws.close_reason
                                     or "closed")), ws.close_code)  # fmt: skip
        except GatewayRefused as exc:
            if not resuming:
                raise
            if exc.code == "TOURNAMENT_NOT_RUNNING":
                return 0  # it ended while the bot was away
            if exc.code not in RETRY_REFUSALS:
                raise
        except OSError as exc:  # refused, reset, unreachable: the API process is away
            if not resuming and reader is None:
                raise
            print(f"arena: the gateway connection failed: {exc}", file=err)
        else:
            if reader.ended or ws.close_code in FINAL_CLOSES or status == 1:
                return status
            print(f"arena: the gateway connection dropped (close code {ws.close_code}); reconnecting", file=err)
        if reader is not None and reader.greeted:  # it had resumed: a new drop gets the whole patience again
            delay, give_up = backoff_s, float("inf")
        resuming = True
        give_up = min(give_up, time.monotonic() + patience_s)
        if time.monotonic() >= give_up:
            print(f"arena: could not reconnect to the gateway within {patience_s:g} s; giving up", file=err)
            return 3
        time.sleep(min(delay, backoff_cap_s) * random.uniform(0.5, 1.0))  # backoff with jitter between attempts
        delay *= 2


def _json_object(line: bytes | None) -> dict[str, object]:
    import json

    try:
        value = json.loads(line) if line else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
