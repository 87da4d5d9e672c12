"""Webhook signatures: the Standard Webhooks specification, signed by the ``standardwebhooks`` library.

Headers (docs/webhooks.md):
    webhook-id: evt_...                      the event id, the same on every attempt (it is signed)
    webhook-timestamp: 1767225600            Unix seconds at the moment of *this* attempt
    webhook-signature: v1,<base64> [v1,...]  HMAC-SHA256 of ``id.timestamp.body``, one per active secret

Secrets are ``whsec_`` + base64 of 32 random bytes; the key is those bytes. Several signatures let a
contestant rotate without a gap: the receiver accepts a request if any ``v1`` signature matches any secret
it holds, and skips versions it does not know. Receivers verify with any official Standard Webhooks
verifier; :func:`verify` is the same check with an injectable clock (tests, Python receivers).

Secrets made before Standard Webhooks were ``whsec_`` + a url-safe token, and their HMAC key was the UTF-8
of the whole string. :func:`standard_secret` wraps such a secret as ``whsec_`` + base64 of those bytes, so
its key does not change: a receiver computes that form once from the secret it holds (docs/webhooks.md).
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets as random_secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

PREFIX = "whsec_"
SECRET_BYTES = 32
VERSION = "v1"
TOLERANCE_S = 300
MAX_SIGNATURES = 8  # signatures in one header; more is malformed (bounds the work an attacker can cause)
MAX_HEADER_CHARS = 1024
MAX_ID_CHARS = 256

# Codes of SignatureError, machine-readable.
MISSING_HEADER = "missing_header"
MALFORMED_ID = "malformed_id"
MALFORMED_TIMESTAMP = "malformed_timestamp"
TIMESTAMP_TOO_OLD = "timestamp_too_old"
TIMESTAMP_IN_FUTURE = "timestamp_in_future"
MALFORMED_SIGNATURE = "malformed_signature"
MALFORMED_BODY = "malformed_body"
NO_SUPPORTED_SIGNATURE = "no_supported_signature"
SIGNATURE_MISMATCH = "signature_mismatch"
NO_SECRET = "no_secret"

_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # ASCII digits only: int() would also take "+1", " 1", "1_0", "١"
_ID = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces (the signed content is "id.timestamp.body")
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_ENTRY = re.compile(r"([a-z][a-z0-9]{0,7}),(\S{1,128})")


class SignatureError(ValueError):
    """A webhook request failed verification, or a secret is unusable. ``code`` is one of the codes above."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form: ``whsec_`` + base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(random_secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _standard_key(secret: str) -> bytes | None:
    """The key of a ``whsec_`` + padded standard base64 secret; None for any other string."""
    if not secret.startswith(PREFIX):
        return None
    encoded = secret[len(PREFIX) :]
    if not encoded or not _BASE64.fullmatch(encoded):
        return None
    return base64.b64decode(encoded, validate=True)


def standard_secret(stored: str) -> str:
    """``stored`` in the Standard Webhooks form: itself when it is one, else (a secret from before) ``whsec_`` +
    base64 of its UTF-8 bytes, which keeps the HMAC key it always had."""
    if not isinstance(stored, str) or not stored:
        raise SignatureError(NO_SECRET, "a webhook secret must be a non-empty string")
    return stored if _standard_key(stored) else PREFIX + base64.b64encode(stored.encode()).decode("ascii")


def key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret. SignatureError(no_secret) unless it is one, with a non-empty key."""
    found = _standard_key(secret) if isinstance(secret, str) else None
    if not found:
        raise SignatureError(NO_SECRET, "a webhook secret is 'whsec_' + base64 of a non-empty key")
    return found


def _secrets(secrets: str | Sequence[str]) -> list[bytes]:
    keys = [key(s) for s in ([secrets] if isinstance(secrets, str) else list(secrets))]
    if not keys:
        raise SignatureError(NO_SECRET, "at least one webhook secret is needed")
    return keys


def _sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    # The library signs text; a body is JSON, so UTF-8 (a body that is not fails here, loudly).
    return Webhook(key).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body.decode("utf-8"))


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError(f"timestamp must be a non-negative int of Unix seconds, got {timestamp!r}")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One signature, ``v1,<base64>``: HMAC-SHA256(key, f"{msg_id}.{timestamp}." + body)."""
    _check_timestamp(timestamp)
    return _sign(key(secret), msg_id, timestamp, body)


def signature_header(secrets: str | Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature value: one ``v1`` signature per active secret, space-separated."""
    _check_timestamp(timestamp)
    keys = _secrets(secrets)
    if len(keys) > MAX_SIGNATURES:
        raise ValueError(f"at most {MAX_SIGNATURES} active secrets")
    return " ".join(_sign(k, msg_id, timestamp, body) for k in keys)


def headers(secrets: str | Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, msg_id, timestamp, body),
    }


def _header(headers: Mapping[str, str], name: str) -> str:
    value = next((v for k, v in headers.items() if k.lower() == name), None)
    if value is None or not value.strip():
        raise SignatureError(MISSING_HEADER, f"the {name} header is missing")
    if len(value) > MAX_HEADER_CHARS:
        raise SignatureError(MALFORMED_SIGNATURE, f"{name} is longer than {MAX_HEADER_CHARS} characters")
    return value.strip()


def verify(
    secrets: str | Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    tolerance: float = TOLERANCE_S,
) -> None:
    """Accept a request or raise SignatureError: what an official verifier checks, against the clock ``now``.

    ``secrets`` may be several (the receiver's side of a rotation). The timestamp must be within ``tolerance``
    seconds of ``now`` either way: too old is a possible replay, too far ahead means a clock is wrong or the
    request was forged for later replay. Every ``v1`` signature is compared with every secret's in constant
    time; signatures of versions this code does not know are skipped.
    """
    keys = _secrets(secrets)
    msg_id = _header(headers, "webhook-id")
    if len(msg_id) > MAX_ID_CHARS or not _ID.fullmatch(msg_id):
        raise SignatureError(MALFORMED_ID, f"webhook-id must be at most {MAX_ID_CHARS} printable ASCII characters")
    raw_timestamp = _header(headers, "webhook-timestamp")
    if not _TIMESTAMP.fullmatch(raw_timestamp):
        raise SignatureError(MALFORMED_TIMESTAMP, "webhook-timestamp must be Unix seconds (ASCII digits)")
    timestamp = int(raw_timestamp)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureError(MALFORMED_BODY, "the body is not UTF-8 (Arena sends JSON)") from None
    parts = _header(headers, "webhook-signature").split()
    if len(parts) > MAX_SIGNATURES:
        raise SignatureError(MALFORMED_SIGNATURE, f"more than {MAX_SIGNATURES} signatures in webhook-signature")
    entries = [_ENTRY.fullmatch(part) for part in parts]
    if not all(entries):
        raise SignatureError(MALFORMED_SIGNATURE, "webhook-signature is space-separated 'v1,<base64>' signatures")
    age = now - timestamp
    if age > tolerance:
        raise SignatureError(TIMESTAMP_TOO_OLD, f"timestamp is {age:.0f} s old; the window is {tolerance:.0f} s")
    if -age > tolerance:
        raise SignatureError(
            TIMESTAMP_IN_FUTURE, f"timestamp is {-age:.0f} s in the future; the window is {tolerance:.0f} s"
        )
    offered = [m.group(2) for m in entries if m is not None and m.group(1) == VERSION]
    if not offered:
        raise SignatureError(NO_SUPPORTED_SIGNATURE, f"no '{VERSION},' signature in webhook-signature")
    if not all(_BASE64.fullmatch(value) for value in offered):
        raise SignatureError(MALFORMED_SIGNATURE, f"a '{VERSION}' signature is padded standard base64")
    offered_macs = [base64.b64decode(value, validate=True) for value in offered]
    expected = [base64.b64decode(_sign(k, msg_id, timestamp, body).split(",", 1)[1]) for k in keys]
    # No early exit: the time taken does not depend on which (if any) pair matched.
    matched = False
    for mac in offered_macs:
        for want in expected:
            matched |= hmac.compare_digest(mac, want)
    if not matched:
        raise SignatureError(SIGNATURE_MISMATCH, "no signature matches the id, timestamp and body with this secret")
