"""Secure session cookies behind a TLS-terminating proxy: X-Forwarded-Proto: https is believed only from
ARENA_TRUSTED_PROXIES, as X-Forwarded-For is. Real uvicorn, Redis and SQLite."""

from __future__ import annotations

import httpx
import pytest

from arena.api.forwarded_proto import forwarded_https
from arena.store import accounts

PASSWORD = "correct-horse-battery"


def signed_in_cookie(server, headers: dict[str, str]) -> str:
    """The Set-Cookie of a password sign-in (a contestant made in the server's database)."""
    with server.server.config.app.state.arena.sessions.begin() as session:
        if accounts.contestant_by_name(session, "carol") is None:
            accounts.set_password(accounts.create_contestant(session, "carol"), PASSWORD)
    answer = httpx.post(f"{server.url}/api/v1/session", json={"name": "carol", "password": PASSWORD},
                        headers=headers, timeout=10)  # fmt: skip
    assert answer.status_code == 200, answer.text
    return answer.headers["set-cookie"].lower()


def test_a_trusted_tls_proxy_gets_a_secure_cookie(api) -> None:
    server = api(trusted_proxies=["127.0.0.1/32"])
    assert "; secure" in signed_in_cookie(server, {"X-Forwarded-Proto": "https"})
    assert "; secure" not in signed_in_cookie(server, {})  # plain HTTP straight to the app: no Secure
    assert "; secure" not in signed_in_cookie(server, {"X-Forwarded-Proto": "http"})


def test_x_forwarded_proto_from_an_untrusted_peer_is_ignored(api) -> None:
    server = api(trusted_proxies=["10.0.0.0/8"])  # the test client (127.0.0.1) is no proxy
    assert "; secure" not in signed_in_cookie(server, {"X-Forwarded-Proto": "https"})


@pytest.mark.parametrize(
    ("peer", "values", "expected"),
    [
        ("10.1.2.3", [b"https"], True),
        ("10.1.2.3", [b"http, https"], True),  # proxies append: the nearest one's word counts
        ("10.1.2.3", [b"https, http"], False),
        ("10.1.2.3", [], False),
        ("192.0.2.7", [b"https"], False),  # not a trusted proxy
    ],
)
def test_the_nearest_trusted_proxy_names_the_scheme(peer, values, expected) -> None:
    scope = {"type": "http", "client": (peer, 4242), "headers": [(b"x-forwarded-proto", v) for v in values]}
    assert forwarded_https(scope, ("10.0.0.0/8",)) is expected
