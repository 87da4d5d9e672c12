"""Hostile clients against the rate limiter: made-up API keys and forged X-Forwarded-For."""

from __future__ import annotations

import secrets

from tests.api.test_service import admin_key

URL = "/api/v1/tournaments"


def made_up_key() -> str:
    return f"arena_{secrets.token_hex(4)}_{secrets.token_urlsafe(24)}"


def test_made_up_keys_are_401_and_count_against_the_address(api, http, database_url):
    key = admin_key(database_url)
    server = api(database_url=database_url, rate_limit=50)
    answers = [http.get(server.url + URL, headers={"X-API-Key": made_up_key()}) for _ in range(300)]
    codes = [a.status_code for a in answers]
    assert codes[:50] == [401] * 50 and codes[50:] == [429] * 250
    assert answers[0].json()["error"]["code"] == "INVALID_API_KEY"
    assert answers[-1].json()["error"]["code"] == "RATE_LIMITED" and answers[-1].headers["Retry-After"]
    # A verified key has a bucket of its own: the address's exhausted budget is not the contestant's.
    assert http.get(server.url + URL, headers={"X-API-Key": key}).status_code == 200


def test_forwarded_for_is_ignored_unless_from_a_trusted_proxy(api, http):
    server = api(rate_limit=5)
    codes = [http.get(server.url + URL, headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code for i in range(10)]
    assert codes == [200] * 5 + [429] * 5
    proxied = api(rate_limit=5, trusted_proxies=["127.0.0.1/32"])
    codes = [http.get(proxied.url + URL, headers={"X-Forwarded-For": f"10.0.1.{i}"}).status_code for i in range(10)]
    assert codes == [200] * 10  # each forwarded client has its own bucket
    same = [http.get(proxied.url + URL, headers={"X-Forwarded-For": "6.6.6.6, 10.0.2.1"}).status_code
            for _ in range(6)]  # fmt: skip
    assert same == [200] * 5 + [429]  # the nearest untrusted hop is the client, whatever it wrote before it
