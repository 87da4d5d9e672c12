"""Webhook signatures: HMAC-SHA256 over ``timestamp + "." + body`` (docs/webhooks.md).

Headers:
    X-Arena-Timestamp: 1767225600                 Unix seconds at the moment of *this* attempt
    X-Arena-Signature: v1=<64 hex>[, v1=<64 hex>] one entry per active secret

The ``v1=`` prefix names the scheme so that a later scheme can be sent next to it; several ``v1``
entries let a contestant rotate secrets without a gap: while both secrets are active Arena signs with
each, and the receiver accepts a request if any entry matches any secret it holds. Signing the
timestamp with the body makes a captured request useless outside the replay window (300 s).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

SCHEME = "v1"
TOLERANCE_S = 300
MAX_SIGNATURES = 8  # entries in one header; more is malformed (bounds the work an attacker can cause)
MAX_HEADER_CHARS = 1024

# Codes of SignatureError, machine-readable.
MISSING_TIMESTAMP = "missing_timestamp"
MALFORMED_TIMESTAMP = "malformed_timestamp"
TIMESTAMP_TOO_OLD = "timestamp_too_old"
TIMESTAMP_IN_FUTURE = "timestamp_in_future"
MISSING_SIGNATURE = "missing_signature"
MALFORMED_SIGNATURE = "malformed_signature"
NO_SUPPORTED_SIGNATURE = "no_supported_signature"
SIGNATURE_MISMATCH = "signature_mismatch"
NO_SECRET = "no_secret"

_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only: int() would also take "+1", " 1", "1_0", "١"
_ENTRY = re.compile(r"([a-z][a-z0-9]{0,7})=([0-9A-Za-z]{1,128})")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class SignatureError(ValueError):
    """A webhook request failed verification. ``code`` is one of the codes above."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _secrets(secret: bytes | Sequence[bytes]) -> list[bytes]:
    secrets = [secret] if isinstance(secret, bytes | bytearray) else list(secret)
    if not secrets or any(not isinstance(s, bytes | bytearray) or not s for s in secrets):
        raise SignatureError(NO_SECRET, "a webhook secret must be non-empty bytes")
    return [bytes(s) for s in secrets]


def _mac(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """One signature entry, ``v1=<hex>``: HMAC-SHA256(secret, f"{timestamp}." + body)."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError(f"timestamp must be a non-negative int of Unix seconds, got {timestamp!r}")
    (key,) = _secrets(secret)
    return f"{SCHEME}={_mac(key, timestamp, body)}"


def signature_header(secrets: bytes | Sequence[bytes], timestamp: int, body: bytes) -> str:
    """The X-Arena-Signature value: one ``v1`` entry per active secret, comma-separated."""
    keys = _secrets(secrets)
    if len(keys) > MAX_SIGNATURES:
        raise ValueError(f"at most {MAX_SIGNATURES} active secrets")
    return ", ".join(sign(key, timestamp, body) for key in keys)


def parse_signature_header(header: str | None) -> list[tuple[str, str]]:
    """``[(scheme, value), ...]`` from an X-Arena-Signature value. Raises SignatureError."""
    if header is None or not header.strip():
        raise SignatureError(MISSING_SIGNATURE, "the X-Arena-Signature header is missing")
    if len(header) > MAX_HEADER_CHARS:
        raise SignatureError(MALFORMED_SIGNATURE, f"X-Arena-Signature is longer than {MAX_HEADER_CHARS} characters")
    parts = [p.strip() for p in header.split(",")]
    if len(parts) > MAX_SIGNATURES:
        raise SignatureError(MALFORMED_SIGNATURE, f"more than {MAX_SIGNATURES} signatures in X-Arena-Signature")
    entries = []
    for part in parts:
        match = _ENTRY.fullmatch(part)
        if match is None:
            raise SignatureError(MALFORMED_SIGNATURE, "X-Arena-Signature must be comma-separated 'v1=<hex>' entries")
        entries.append((match.group(1), match.group(2)))
    return entries


def parse_timestamp(header: str | None) -> int:
    if header is None or not header.strip():
        raise SignatureError(MISSING_TIMESTAMP, "the X-Arena-Timestamp header is missing")
    if not _TIMESTAMP.fullmatch(header.strip()):
        raise SignatureError(MALFORMED_TIMESTAMP, "X-Arena-Timestamp must be Unix seconds (ASCII digits)")
    return int(header.strip())


def verify(
    secret: bytes | Sequence[bytes],
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    now: float,
    tolerance: float = TOLERANCE_S,
) -> None:
    """Accept a request or raise SignatureError.

    ``secret`` may be several secrets (the receiver's side of a rotation). The timestamp must be within
    ``tolerance`` seconds of ``now`` either way: too old is a possible replay, too far ahead means a clock
    is wrong or the request was forged for later replay. Every v1 entry is compared with every secret in
    constant time; entries of schemes this code does not know are skipped, so a future scheme can be
    added to the header without breaking this receiver.
    """
    keys = _secrets(secret)
    timestamp = parse_timestamp(timestamp_header)
    entries = parse_signature_header(signature_header)
    age = now - timestamp
    if age > tolerance:
        raise SignatureError(TIMESTAMP_TOO_OLD, f"timestamp is {age:.0f} s old; the window is {tolerance:.0f} s")
    if -age > tolerance:
        raise SignatureError(
            TIMESTAMP_IN_FUTURE, f"timestamp is {-age:.0f} s in the future; the window is {tolerance:.0f} s"
        )
    candidates = [value.lower() for scheme, value in entries if scheme == SCHEME]
    if not candidates:
        raise SignatureError(NO_SUPPORTED_SIGNATURE, f"no '{SCHEME}=' signature in X-Arena-Signature")
    if not all(_HEX64.fullmatch(value) for value in candidates):
        raise SignatureError(MALFORMED_SIGNATURE, f"a '{SCHEME}' signature is 64 hex digits")
    expected = [_mac(key, timestamp, body) for key in keys]
    # No early exit: the time taken does not depend on which (if any) pair matched.
    matched = False
    for value in candidates:
        for want in expected:
            matched |= hmac.compare_digest(value.encode("ascii"), want.encode("ascii"))
    if not matched:
        raise SignatureError(SIGNATURE_MISMATCH, "no signature matches the body and timestamp with this secret")
