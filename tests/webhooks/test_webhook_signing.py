"""Standard Webhooks signatures: the specification's test vector, the official verifier accepting what Arena
signs, tampering, the window, rotation, malformed headers, and secrets from before (wrapped, same key)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from arena.webhooks import signing
from arena.webhooks.signing import SignatureError, sign, signature_header, standard_secret, verify

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD = "whsec_" + base64.b64encode(b"the old secret, 24 bytes").decode()
ID = "evt_01KDVDRZ60HPKDJAMSFM912P2V"
TS = 1_767_225_600
BODY = b'{"id":"evt_01","type":"order.filled"}'


def headers_of(signature: str | None, msg_id: str | None = ID, timestamp: str | None = str(TS)) -> dict[str, str]:
    found = {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signature}
    return {k: v for k, v in found.items() if v is not None}


def code_of(secrets: object, headers: dict[str, str], body: bytes = BODY, now: float = TS, **kw: float) -> str:
    with pytest.raises(SignatureError) as info:
        verify(secrets, headers, body, now=now, **kw)  # type: ignore[arg-type]
    return info.value.code


def test_the_specifications_test_vector() -> None:
    # The Standard Webhooks reference libraries' own vector.
    signature = sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_sign_is_hmac_sha256_over_id_timestamp_body_with_the_decoded_key() -> None:
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    want = hmac.new(key, f"{ID}.{TS}.".encode() + BODY, hashlib.sha256).digest()
    assert sign(SECRET, ID, TS, BODY) == "v1," + base64.b64encode(want).decode()


def test_the_official_verifier_accepts_what_arena_signs_and_arenas_verify_agrees() -> None:
    now = int(time.time())
    headers = signing.headers([SECRET, OLD], ID, now, BODY)
    assert Webhook(SECRET).verify(BODY, headers) == {"id": "evt_01", "type": "order.filled"}
    assert Webhook(OLD).verify(BODY, headers) == {"id": "evt_01", "type": "order.filled"}
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY, headers | {"webhook-id": "evt_other"})  # the id is signed
    verify(SECRET, headers, BODY, now=now)


def test_round_trip_and_the_windows_edges() -> None:
    headers = signing.headers(SECRET, ID, TS, BODY)
    for now in (TS, TS + 300, TS - 300):
        verify(SECRET, headers, BODY, now=now)
    verify(SECRET, {k.upper(): v for k, v in headers.items()}, BODY, now=TS)  # header names are case-blind


def test_tampered_body_id_timestamp_or_signature() -> None:
    good = sign(SECRET, ID, TS, BODY)
    assert code_of(SECRET, headers_of(good), BODY + b" ") == signing.SIGNATURE_MISMATCH
    assert code_of(SECRET, headers_of(good), BODY.replace(b"filled", b"filleD")) == signing.SIGNATURE_MISMATCH
    assert code_of(SECRET, headers_of(good, timestamp=str(TS + 1))) == signing.SIGNATURE_MISMATCH
    assert code_of(SECRET, headers_of(good, msg_id=ID + "x")) == signing.SIGNATURE_MISMATCH
    mac = bytearray(base64.b64decode(good[3:]))
    mac[0] ^= 1
    assert code_of(SECRET, headers_of("v1," + base64.b64encode(mac).decode())) == signing.SIGNATURE_MISMATCH
    assert code_of(signing.new_secret(), headers_of(good)) == signing.SIGNATURE_MISMATCH


def test_stale_and_future_timestamps() -> None:
    good = headers_of(sign(SECRET, ID, TS, BODY))
    assert code_of(SECRET, good, now=TS + 301) == signing.TIMESTAMP_TOO_OLD
    assert code_of(SECRET, good, now=TS - 301) == signing.TIMESTAMP_IN_FUTURE
    assert code_of(SECRET, good, now=TS + 61, tolerance=60) == signing.TIMESTAMP_TOO_OLD
    # A replayed request re-signed by nobody: the window is checked before the signature.
    assert code_of(SECRET, headers_of(sign(SECRET, ID, 0, BODY), timestamp="0")) == signing.TIMESTAMP_TOO_OLD


ZERO = "v1," + base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        (headers_of(ZERO, timestamp=None), signing.MISSING_HEADER),
        (headers_of(ZERO, timestamp=""), signing.MISSING_HEADER),
        (headers_of(ZERO, msg_id=None), signing.MISSING_HEADER),
        (headers_of(None), signing.MISSING_HEADER),
        (headers_of("  "), signing.MISSING_HEADER),
        (headers_of(ZERO, msg_id="evt 1"), signing.MALFORMED_ID),
        (headers_of(ZERO, msg_id="évt"), signing.MALFORMED_ID),
        (headers_of(ZERO, msg_id="e" * 257), signing.MALFORMED_ID),
        (headers_of(ZERO, timestamp="1767225600.5"), signing.MALFORMED_TIMESTAMP),
        (headers_of(ZERO, timestamp="-1767225600"), signing.MALFORMED_TIMESTAMP),
        (headers_of(ZERO, timestamp="+1767225600"), signing.MALFORMED_TIMESTAMP),
        (headers_of(ZERO, timestamp="1767_225_600"), signing.MALFORMED_TIMESTAMP),
        (headers_of(ZERO, timestamp="١٧٦٧٢٢٥٦٠٠"), signing.MALFORMED_TIMESTAMP),  # non-ASCII digits
        (headers_of(ZERO, timestamp="1" * 13), signing.MALFORMED_TIMESTAMP),
        (headers_of("deadbeef"), signing.MALFORMED_SIGNATURE),
        (headers_of("v1,"), signing.MALFORMED_SIGNATURE),
        (headers_of("v1=" + ZERO[3:]), signing.MALFORMED_SIGNATURE),  # the old scheme's form
        (headers_of("v1,xyz!"), signing.MALFORMED_SIGNATURE),  # not base64
        (headers_of("v1,ü" + ZERO[4:]), signing.MALFORMED_SIGNATURE),
        (headers_of(" ".join([ZERO] * 9)), signing.MALFORMED_SIGNATURE),
        (headers_of("v1," + "A" * 2000), signing.MALFORMED_SIGNATURE),
        (headers_of("v0," + ZERO[3:]), signing.NO_SUPPORTED_SIGNATURE),
    ],
)
def test_malformed_headers(headers: dict[str, str], code: str) -> None:
    assert code_of(SECRET, headers) == code


def test_a_body_that_is_not_utf8_is_refused_with_its_code() -> None:
    assert code_of(SECRET, headers_of(ZERO), b"\xff\xfe") == signing.MALFORMED_BODY


def test_rotation_two_signatures_in_the_header() -> None:
    header = signature_header([SECRET, OLD], ID, TS, BODY)
    assert header == f"{sign(SECRET, ID, TS, BODY)} {sign(OLD, ID, TS, BODY)}"
    verify(SECRET, headers_of(header), BODY, now=TS)  # a receiver that already has the new secret
    verify(OLD, headers_of(header), BODY, now=TS)  # one that still has the old
    verify([signing.new_secret(), OLD], headers_of(header), BODY, now=TS)  # the receiver's own rotation
    assert code_of([signing.new_secret(), signing.new_secret()], headers_of(header)) == signing.SIGNATURE_MISMATCH


def test_unknown_versions_are_skipped() -> None:
    good = sign(SECRET, ID, TS, BODY)
    verify(SECRET, headers_of(f"v2,abcdef {good}"), BODY, now=TS)
    verify(SECRET, headers_of(good, timestamp=f" {TS} "), BODY, now=TS)


def test_secret_and_timestamp_validation() -> None:
    good = headers_of(sign(SECRET, ID, TS, BODY))
    for bad in ("", [], "whsec_", "whsec_abc", "raw", "whsec_!!!!", b"whsec_AAAA", "whsec_" + "=" * 4):
        assert code_of(bad, good) == signing.NO_SECRET
    with pytest.raises(ValueError):
        sign(SECRET, ID, -1, BODY)
    with pytest.raises(ValueError):
        sign(SECRET, ID, True, BODY)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        signature_header([SECRET] * 9, ID, TS, BODY)


def test_new_secrets_are_standard_and_distinct() -> None:
    made = {signing.new_secret() for _ in range(50)}
    assert len(made) == 50
    for secret in made:
        assert secret.startswith("whsec_") and len(signing.key(secret)) == 32
        assert standard_secret(secret) == secret
        assert Webhook(secret)._whsecret == signing.key(secret)  # the library reads the key the same way


def test_a_secret_from_before_is_wrapped_and_keeps_its_key() -> None:
    # Before Standard Webhooks: 'whsec_' + token_urlsafe(32), and the HMAC key was the string's own bytes.
    old = "whsec_Fq3-kD_zN0m7y8Wq1o2PbX4vR9sT6uLcAeHgJiKlMn0"
    wrapped = standard_secret(old)
    assert wrapped == "whsec_" + base64.b64encode(old.encode()).decode() and standard_secret(wrapped) == wrapped
    assert signing.key(wrapped) == old.encode()
    body_mac = hmac.new(old.encode(), f"{ID}.{TS}.".encode() + BODY, hashlib.sha256).digest()
    assert sign(wrapped, ID, TS, BODY) == "v1," + base64.b64encode(body_mac).decode()
    now = int(time.time())
    assert Webhook(wrapped).verify(BODY, signing.headers(wrapped, ID, now, BODY)) is not None


@given(
    key=st.binary(min_size=1, max_size=64),
    timestamp=st.integers(min_value=0, max_value=10**11),
    body=st.text(max_size=256).map(str.encode),
    index=st.integers(min_value=0),
    delta=st.integers(min_value=1, max_value=127),
)
def test_any_single_byte_change_is_caught(key: bytes, timestamp: int, body: bytes, index: int, delta: int) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    headers = signing.headers(secret, ID, timestamp, body)
    verify(secret, headers, body, now=timestamp)
    ascii_positions = [i for i, b in enumerate(body) if b < 128]
    if ascii_positions:
        i = ascii_positions[index % len(ascii_positions)]
        tampered = body[:i] + bytes([(body[i] + delta) % 128]) + body[i + 1 :]
        assert code_of(secret, headers, tampered, now=timestamp) == signing.SIGNATURE_MISMATCH
