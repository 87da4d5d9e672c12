"""HTTP request metrics by route template, over real HTTP against a real uvicorn server and Redis.

The metrics live in the process-wide registry, which other tests in the same run also feed, so every
assertion is on the difference between two scrapes of /metrics."""

from __future__ import annotations

import time

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families

from arena.runtime.leaderboard import Leaderboard

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]
HTTP_METRICS = ("arena_http_requests", "arena_http_request_duration_seconds")  # family names: no _total


def scrape(http: httpx.Client, url: str) -> tuple[Series, str]:
    """The arena_http_* samples of one /metrics scrape, by (sample name, sorted labels), and its raw lines."""
    text = http.get(f"{url}/metrics").text
    series: Series = {}
    for family in text_string_to_metric_families(text):
        if family.name.startswith(HTTP_METRICS):
            for sample in family.samples:
                series[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    raw = "\n".join(line for line in text.splitlines() if line.startswith("arena_http_"))
    return series, raw


def delta(before: Series, after: Series) -> Series:
    return {key: value - before.get(key, 0.0) for key, value in after.items() if value != before.get(key, 0.0)}


def requests(changes: Series, route: str) -> dict[str, float]:
    """status -> requests counted for the route between the two scrapes."""
    out = {}
    for (name, labels), value in changes.items():
        tags = dict(labels)
        if name == "arena_http_requests_total" and tags["route"] == route:
            assert tags["method"] == "GET"
            out[tags["status"]] = value
    return out


def test_requests_are_counted_by_route_template_and_status_never_by_raw_path(api, http, redis_url):
    client = redis.Redis.from_url(redis_url)
    Leaderboard(client, "cup-7").update({"a": 1.0, "b": 2.0})
    Leaderboard(client, "cup-9").update({"c": 3.0})
    client.close()
    server = api()
    before, _ = scrape(http, server.url)

    for slug in ("cup-7", "cup-9"):  # one template, two tournaments
        assert http.get(f"{server.url}/api/v1/tournaments/{slug}/leaderboard").status_code == 200
    for slug in ("spring-open-41", "autumn-open-42", "winter-open-43"):  # another template, unknown tournaments
        assert http.get(f"{server.url}/api/v1/tournaments/{slug}").status_code == 404
    assert http.get(f"{server.url}/no/such/page-8731").status_code == 404  # no route at all
    # a trailing slash: redirected to the route, but the raw path must not become a label
    assert http.get(f"{server.url}/api/v1/tournaments/cup-7/leaderboard/").status_code in (307, 308)
    for _ in range(3):
        http.get(f"{server.url}/metrics")  # not counted

    # a request is counted just after its response is sent, so a scrape can come a moment before it
    deadline = time.monotonic() + 5
    while True:
        after, raw = scrape(http, server.url)
        changes = delta(before, after)
        counted = sum(v for (name, _), v in changes.items() if name == "arena_http_requests_total")
        if counted >= 7 or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # polling the scrape, bounded by the deadline

    assert requests(changes, "/api/v1/tournaments/{tournament}/leaderboard") == {"200": 2}
    assert requests(changes, "/api/v1/tournaments/{slug}") == {"404": 3}
    unmatched = requests(changes, "unmatched")
    assert unmatched.get("404") == 1 and sum(unmatched.get(s, 0) for s in ("307", "308")) == 1
    # the latency histogram, one series per (method, route template)
    count = ("arena_http_request_duration_seconds_count",
             (("method", "GET"), ("route", "/api/v1/tournaments/{tournament}/leaderboard")))  # fmt: skip
    assert changes[count] == 2
    inf = ("arena_http_request_duration_seconds_bucket",
           (("le", "+Inf"), ("method", "GET"), ("route", "/api/v1/tournaments/{slug}")))  # fmt: skip
    assert changes[inf] == 3

    routes = {dict(labels)["route"] for _, labels in after}
    assert routes >= {"/api/v1/tournaments/{tournament}/leaderboard", "/api/v1/tournaments/{slug}", "unmatched"}
    assert all(route == "unmatched" or route.startswith("/") for route in routes)
    assert "/metrics" not in routes
    for raw_id in ("cup-7", "cup-9", "spring-open-41", "autumn-open-42", "winter-open-43", "page-8731"):
        assert raw_id not in raw
