"""A leaderboard change as spectators receive it, encoded once for all of them: its JSON text, that text framed as
one WebSocket message, and as one server-sent event (bare, and as one chunk of a chunked HTTP/1.1 body).

Every spectator of a change is sent the same bytes, so the hub encodes each change once and writes the frame to
every socket. The frames are what a WebSocket server and an HTTP/1.1 server would write for the same message:
server-to-client WebSocket frames are never masked (RFC 6455 5.1) and are sent uncompressed (a message may be, with
permessage-deflate negotiated or not: RFC 7692 6), and a chunk is its size in hex, CRLF, the data, CRLF.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

from arena.metrics import SPECTATOR_ENCODES
from arena.runtime.leaderboard import Change

_TEXT = 0x81  # FIN + opcode 1 (text): a whole message in one frame


def change_json(change: Change) -> str:
    """The `leaderboard` message spectators get for ``change`` (the one encoder: the API and bench/api.py's peer)."""
    body = {"type": "leaderboard", "id": change.stream_id, "seq": change.seq, "ts": change.ts,
            "tick": change.tick, "scores": change.scores}  # fmt: skip
    return json.dumps(body, separators=(",", ":"))


def websocket_frame(payload: bytes) -> bytes:
    """``payload`` as one unmasked WebSocket text frame, as a server sends it."""
    n = len(payload)
    if n < 126:
        return bytes((_TEXT, n)) + payload
    if n < 1 << 16:
        return struct.pack("!BBH", _TEXT, 126, n) + payload
    return struct.pack("!BBQ", _TEXT, 127, n) + payload


def http_chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked HTTP/1.1 body (never empty: an empty chunk ends the body)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


@dataclass(frozen=True, slots=True)
class Frames:
    """One message, encoded for every kind of spectator."""

    text: str  # the JSON message
    websocket: bytes  # a WebSocket text frame holding it
    event: bytes  # a server-sent event holding it
    event_chunk: bytes  # that event as one chunk of a chunked body

    @classmethod
    def of(cls, text: str, event: bytes) -> Frames:
        return cls(text, websocket_frame(text.encode()), event, http_chunk(event))


def encode(change: Change) -> Frames:
    """``change`` for every spectator: called once per change read, not per spectator (counted in metrics)."""
    SPECTATOR_ENCODES.inc()
    text = change_json(change)
    return Frames.of(text, f"id: {change.stream_id}\nevent: leaderboard\ndata: {text}\n\n".encode())


HEARTBEAT = Frames.of('{"type":"heartbeat"}', b"event: heartbeat\ndata: {}\n\n")
