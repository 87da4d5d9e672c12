"""What a production deployment turns on: /metrics behind a bearer token or on a port of its own, the OpenAPI docs
switched off, a private data dir. Real uvicorn, Redis and SQLite. (Secure cookies behind a TLS proxy:
test_forwarded_proto.py.)"""

from __future__ import annotations

import os
import stat

import httpx
import pytest

from arena.runtime.redis_server import free_port

TOKEN = "scrape-me-with-this-token-0123456789"


def test_metrics_need_the_bearer_token_when_one_is_set(api, http) -> None:
    url = f"{api(metrics_token=TOKEN).url}/metrics"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        answer = http.get(url, headers=headers)
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "UNAUTHENTICATED"
        assert answer.headers["www-authenticate"].startswith("Bearer")
    answer = http.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and "arena_orders_total" in answer.text


def test_metrics_on_a_port_of_their_own(api, http) -> None:
    port = free_port()
    server = api(metrics_port=port, metrics_token=TOKEN)
    public = http.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert public.status_code == 404 and public.json()["error"]["code"] == "NOT_FOUND"
    private = f"http://127.0.0.1:{port}/metrics"
    refused = http.get(private)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "UNAUTHENTICATED"
    answer = http.get(private, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and "arena_orders_total" in answer.text
    assert http.get(f"http://127.0.0.1:{port}/healthz").status_code == 404  # only the metrics there
    server.stop()
    with pytest.raises(httpx.ConnectError):  # the metrics port closes with the API
        http.get(private)


def test_openapi_docs_can_be_switched_off(api, http) -> None:
    on, off = api(), api(api_docs=False)
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert http.get(on.url + path).status_code == 200
        answer = http.get(off.url + path)
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "NOT_FOUND"
    assert http.get(off.url + "/healthz").status_code == 200


def test_the_service_keeps_its_data_dir_private(api, tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)  # an older install's, or a umask's
    api(data_dir=data)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "arena.db").stat().st_mode) == 0o600
