"""HMAC-SHA256 signatures over timestamp + "." + body: round trip, tampering, the window, rotation."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arena.webhooks import signing
from arena.webhooks.signing import SignatureError, sign, signature_header, verify

SECRET = b"whsec_abc"
OLD = b"whsec_old"
TS = 1_767_225_600
BODY = b'{"id":"evt_01","type":"order.filled"}'


def code_of(*args: object, **kwargs: object) -> str:
    with pytest.raises(SignatureError) as info:
        verify(*args, **kwargs)  # type: ignore[arg-type]
    return info.value.code


def test_sign_is_hmac_sha256_over_timestamp_dot_body() -> None:
    want = hmac.new(SECRET, b"1767225600." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, TS, BODY) == f"v1={want}"


def test_round_trip() -> None:
    verify(SECRET, str(TS), sign(SECRET, TS, BODY), BODY, now=TS)
    verify(SECRET, str(TS), sign(SECRET, TS, BODY), BODY, now=TS + 300)  # the window's edge is inside
    verify(SECRET, str(TS), sign(SECRET, TS, BODY), BODY, now=TS - 300)


def test_tampered_body_timestamp_or_signature() -> None:
    good = sign(SECRET, TS, BODY)
    assert code_of(SECRET, str(TS), good, BODY + b" ", now=TS) == signing.SIGNATURE_MISMATCH
    assert code_of(SECRET, str(TS), good, BODY.replace(b"filled", b"filleD"), now=TS) == signing.SIGNATURE_MISMATCH
    assert code_of(SECRET, str(TS + 1), good, BODY, now=TS) == signing.SIGNATURE_MISMATCH
    flipped = good[:-1] + ("0" if good[-1] != "0" else "1")
    assert code_of(SECRET, str(TS), flipped, BODY, now=TS) == signing.SIGNATURE_MISMATCH
    assert code_of(b"other", str(TS), good, BODY, now=TS) == signing.SIGNATURE_MISMATCH


def test_stale_and_future_timestamps() -> None:
    good = sign(SECRET, TS, BODY)
    assert code_of(SECRET, str(TS), good, BODY, now=TS + 301) == signing.TIMESTAMP_TOO_OLD
    assert code_of(SECRET, str(TS), good, BODY, now=TS - 301) == signing.TIMESTAMP_IN_FUTURE
    assert code_of(SECRET, str(TS), good, BODY, now=TS + 61, tolerance=60) == signing.TIMESTAMP_TOO_OLD
    # A replayed request re-signed by nobody: the window is checked before the signature, on the header value.
    assert code_of(SECRET, "0", sign(SECRET, 0, BODY), BODY, now=TS) == signing.TIMESTAMP_TOO_OLD


@pytest.mark.parametrize(
    ("timestamp", "signature", "code"),
    [
        (None, "v1=" + "0" * 64, signing.MISSING_TIMESTAMP),
        ("", "v1=" + "0" * 64, signing.MISSING_TIMESTAMP),
        ("1767225600.5", "v1=" + "0" * 64, signing.MALFORMED_TIMESTAMP),
        ("-1767225600", "v1=" + "0" * 64, signing.MALFORMED_TIMESTAMP),
        ("+1767225600", "v1=" + "0" * 64, signing.MALFORMED_TIMESTAMP),
        ("1767_225_600", "v1=" + "0" * 64, signing.MALFORMED_TIMESTAMP),
        ("١٧٦٧٢٢٥٦٠٠", "v1=" + "0" * 64, signing.MALFORMED_TIMESTAMP),  # non-ASCII digits
        ("1" * 13, "v1=" + "0" * 64, signing.MALFORMED_TIMESTAMP),
        (str(TS), None, signing.MISSING_SIGNATURE),
        (str(TS), "  ", signing.MISSING_SIGNATURE),
        (str(TS), "deadbeef", signing.MALFORMED_SIGNATURE),
        (str(TS), "v1=", signing.MALFORMED_SIGNATURE),
        (str(TS), "v1=xyz!", signing.MALFORMED_SIGNATURE),
        (str(TS), "v1=abcd", signing.MALFORMED_SIGNATURE),  # not 64 hex digits
        (str(TS), "v1=" + "0" * 64 + ";", signing.MALFORMED_SIGNATURE),
        (str(TS), ", ".join(["v1=" + "0" * 64] * 9), signing.MALFORMED_SIGNATURE),
        (str(TS), "v1=" + "0" * 2000, signing.MALFORMED_SIGNATURE),
        (str(TS), "v0=" + "0" * 64, signing.NO_SUPPORTED_SIGNATURE),
    ],
)
def test_malformed_headers(timestamp: str | None, signature: str | None, code: str) -> None:
    assert code_of(SECRET, timestamp, signature, BODY, now=TS) == code


def test_rotation_two_signatures_in_the_header() -> None:
    header = signature_header([SECRET, OLD], TS, BODY)
    assert header == f"{sign(SECRET, TS, BODY)}, {sign(OLD, TS, BODY)}"
    verify(SECRET, str(TS), header, BODY, now=TS)  # a receiver that already has the new secret
    verify(OLD, str(TS), header, BODY, now=TS)  # one that still has the old
    verify([b"unrelated", OLD], str(TS), header, BODY, now=TS)  # the receiver's own rotation
    assert code_of([b"unrelated", b"other"], str(TS), header, BODY, now=TS) == signing.SIGNATURE_MISMATCH


def test_unknown_schemes_are_skipped_and_case_is_forgiven() -> None:
    good = sign(SECRET, TS, BODY)
    verify(SECRET, str(TS), f"v2=abcdef, {good}", BODY, now=TS)
    verify(SECRET, str(TS), "v1=" + good[3:].upper(), BODY, now=TS)
    verify(SECRET, f" {TS} ", good, BODY, now=TS)


def test_secret_and_timestamp_validation() -> None:
    assert code_of(b"", str(TS), sign(SECRET, TS, BODY), BODY, now=TS) == signing.NO_SECRET
    assert code_of([], str(TS), sign(SECRET, TS, BODY), BODY, now=TS) == signing.NO_SECRET
    with pytest.raises(ValueError):
        sign(SECRET, -1, BODY)
    with pytest.raises(ValueError):
        sign(SECRET, True, BODY)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        signature_header([SECRET] * 9, TS, BODY)


@given(
    secret=st.binary(min_size=1, max_size=64),
    timestamp=st.integers(min_value=0, max_value=10**11),
    body=st.binary(max_size=512),
    index=st.integers(min_value=0),
    delta=st.integers(min_value=1, max_value=255),
)
def test_any_single_byte_change_is_caught(secret: bytes, timestamp: int, body: bytes, index: int, delta: int) -> None:
    header = sign(secret, timestamp, body)
    verify(secret, str(timestamp), header, body, now=timestamp)
    if body:
        i = index % len(body)
        tampered = body[:i] + bytes([(body[i] + delta) % 256]) + body[i + 1 :]
        assert code_of(secret, str(timestamp), header, tampered, now=timestamp) == signing.SIGNATURE_MISMATCH
