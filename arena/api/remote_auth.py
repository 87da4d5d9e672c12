"""Remote bots' signed requests: an API key id and secret, HMAC-SHA256, a timestamp and a nonce.

A remote bot (the gateway's WebSocket handshake, or a REST call) sends four headers:

- ``X-Arena-Key``: its key id (``rk_`` and 24 hex digits);
- ``X-Arena-Timestamp``: Unix time in whole seconds, within ``WINDOW_S`` (300 s) of the server's clock;
- ``X-Arena-Nonce``: 16-64 characters of ``A-Z a-z 0-9 _ -``, never used before with this key;
- ``X-Arena-Signature``: hex HMAC-SHA256, under the key's secret, of the canonical string

  ``ARENA-HMAC-SHA256\\n<METHOD>\\n<path>\\n<query>\\n<timestamp>\\n<nonce>\\n<hex SHA-256 of the body>``

  (``<query>`` is the raw query string, empty when there is none; a WebSocket handshake is a ``GET`` with an
  empty body). The secret itself never crosses the wire after its creation.

Checks, in order, each refused 401 with its code and changing nothing: headers present and well-formed
(``UNAUTHENTICATED``), the timestamp inside the window (``STALE_TIMESTAMP``), a live key (``UNKNOWN_KEY``), the
signature, compared in constant time (``BAD_SIGNATURE``), and the nonce unused (``NONCE_REPLAYED``; nonces are
kept in Redis for twice the window, so one can never be replayed while its timestamp is still acceptable). The
nonce is spent only once the signature is good: a forger cannot burn a client's nonces.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import Any

from fastapi.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from arena.store import remote_keys
from arena.webhooks.keyring import KeyringError

SCHEME = "ARENA-HMAC-SHA256"
WINDOW_S = 300
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
SIGNATURE = re.compile(r"[0-9a-f]{64}")
TIMESTAMP = re.compile(r"[0-9]{1,12}")
HEADERS = ("x-arena-key", "x-arena-timestamp", "x-arena-nonce", "x-arena-signature")


def canonical(method: str, path: str, query: str, timestamp: str, nonce: str, body: bytes) -> str:
    return "\n".join((SCHEME, method.upper(), path, query, timestamp, nonce, hashlib.sha256(body).hexdigest()))


def sign(secret: str, method: str, path: str, query: str, timestamp: str, nonce: str, body: bytes = b"") -> str:
    return hmac.new(secret.encode(), canonical(method, path, query, timestamp, nonce, body).encode(),
                    hashlib.sha256).hexdigest()  # fmt: skip


class Refused(Exception):
    """A signed request refused: ``code`` for programs, ``message`` for people (401 / WebSocket close 4401)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Caller:
    contestant_id: int
    key_id: str


def _secret_of(state: Any, key_id: str) -> tuple[int, str] | None:
    """(contestant id, secret) of a live key; its last use noted."""
    with state.sessions.begin() as session:
        key = remote_keys.live_key(session, key_id)
        if key is None:
            return None
        remote_keys.mark_used(session, key)
        try:
            return key.contestant_id, state.remote_keyring.open(key.sealed_secret)
        except KeyringError:
            return None  # sealed under a key this service no longer has: as good as revoked


async def verify(conn: HTTPConnection, state: Any, method: str, body: bytes = b"",
                 clock: Any = time.time) -> Caller:  # fmt: skip
    """The caller a signed request stands for; raises Refused."""
    key_id, timestamp, nonce, signature = (conn.headers.get(h, "") for h in HEADERS)
    if not key_id or not timestamp or not nonce or not signature:
        raise Refused("UNAUTHENTICATED", "sign the request: X-Arena-Key, X-Arena-Timestamp, X-Arena-Nonce and "
                                         "X-Arena-Signature (docs/remote-bots.md)")
    if not TIMESTAMP.fullmatch(timestamp) or not NONCE.fullmatch(nonce) or not SIGNATURE.fullmatch(signature):
        raise Refused("UNAUTHENTICATED", "X-Arena-Timestamp must be Unix seconds, X-Arena-Nonce 16-64 characters of "
                                         "A-Z a-z 0-9 _ -, X-Arena-Signature 64 lowercase hex digits")
    skew = int(timestamp) - clock()
    if abs(skew) > WINDOW_S:
        raise Refused("STALE_TIMESTAMP", f"the timestamp is {abs(skew):.0f} s {'ahead' if skew > 0 else 'behind'} of "
                                         f"the server's clock; the window is {WINDOW_S} s")
    found = await run_in_threadpool(_secret_of, state, key_id) if remote_keys.KEY_ID.fullmatch(key_id) else None
    if found is None:
        raise Refused("UNKNOWN_KEY", "that remote key is unknown or revoked")
    contestant_id, secret = found
    expected = sign(secret, method, conn.url.path, conn.url.query, timestamp, nonce, body)
    if not hmac.compare_digest(expected, signature):
        raise Refused("BAD_SIGNATURE", "the signature does not match the request (see the canonical string in "
                                       "docs/remote-bots.md)")
    if not await state.aredis.set(f"arena:remote:nonce:{key_id}:{nonce}", 1, nx=True, ex=2 * WINDOW_S):
        raise Refused("NONCE_REPLAYED", "that nonce was used already: each request needs a fresh one")
    return Caller(contestant_id, key_id)
