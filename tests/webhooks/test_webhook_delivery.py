"""Delivery to a real receiver on loopback: signatures, retries with backoff, de-duplication, the SSRF guard.

Time is a FakeClock shared by the deliverer and the receiver: the deliverer's sleep advances it, so a run
with minutes of backoff takes milliseconds and the receiver still checks the 300 s window.
"""

from __future__ import annotations

import queue
import random
import socket
import threading

import pytest

from arena.webhooks.delivery import (
    DELIVERED,
    EXHAUSTED,
    FAILED,
    REFUSED,
    AddressPolicy,
    Deliverer,
    Endpoint,
    EndpointError,
    RetryPolicy,
    check_endpoint,
    deliver_all,
    parse_retry_after,
    run_worker,
)
from arena.webhooks.events import WebhookEvent, event_id
from tests.webhooks.receiver import SECRET, FakeClock, Receiver

NO_JITTER = RetryPolicy(max_attempts=8, base_delay=1.0, max_delay=60.0, jitter=False)


def make_event(n: int = 1, kind: str = "order.filled") -> WebhookEvent:
    return WebhookEvent(event_id(1_767_225_600_000 + n, n), kind, 1_767_225_600_000 + n, "cup", "bot-a", {"n": n})


def deliverer(clock: FakeClock, policy: RetryPolicy = NO_JITTER, **kwargs: object) -> Deliverer:
    kwargs.setdefault("allow_loopback", True)
    return Deliverer(policy, sleep=clock.sleep, clock=clock.time, rng=random.Random(7), **kwargs)  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_delivered_first_time_with_the_documented_headers(receiver: Receiver, clock: FakeClock) -> None:
    event = make_event()
    with deliverer(clock) as d:
        result = d.deliver(Endpoint(receiver.url, (SECRET,)), event)
    assert result.ok and result.outcome == DELIVERED and result.attempts == 1 and result.status == 200
    assert result.delays == [] and clock.slept == []
    (request,) = receiver.requests
    assert request.verdict == "processed" and request.body == event.body()
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "arena-webhooks/1"
    assert headers["X-Arena-Event-Id"] == event.id
    assert headers["X-Arena-Event-Type"] == "order.filled"
    assert headers["X-Arena-Timestamp"] == str(int(clock.now))
    assert headers["X-Arena-Signature"].startswith("v1=")
    assert headers["X-Arena-Delivery-Attempt"] == "1"


def test_retries_5xx_and_429_with_growing_delays_honouring_retry_after(receiver: Receiver, clock: FakeClock) -> None:
    receiver.script = [
        ("fail", 500),
        ("fail", 503),
        ("fail", 429, {"Retry-After": "7"}),
        ("fail", 502),
        ("fail", 429, {"Retry-After": "Thu, 01 Jan 2026 01:00:00 GMT"}),  # an HTTP date: ~an hour ahead
    ]
    event = make_event()
    with deliverer(clock) as d:
        result = d.deliver(Endpoint(receiver.url, (SECRET,)), event)
    assert result.outcome == DELIVERED and result.attempts == 6
    # 1, 2, then max(4, Retry-After 7), 8, then the HTTP date's wait capped at max_retry_after (600 s)
    assert result.delays == [1.0, 2.0, 7.0, 8.0, 600.0] == clock.slept
    verdicts = ["failed:500", "failed:503", "failed:429", "failed:502", "failed:429", "processed"]
    assert [r.verdict for r in receiver.requests] == verdicts
    # Same event id and body every time; a fresh timestamp (and so signature) per attempt.
    assert {r.headers["X-Arena-Event-Id"] for r in receiver.requests} == {event.id}
    assert {r.body for r in receiver.requests} == {event.body()}
    stamps = [int(r.headers["X-Arena-Timestamp"]) for r in receiver.requests]
    assert stamps == sorted(stamps) and stamps[-1] - stamps[0] > 300  # a reused timestamp would now be stale
    assert len({r.headers["X-Arena-Signature"] for r in receiver.requests}) == 6
    assert [r.headers["X-Arena-Delivery-Attempt"] for r in receiver.requests] == [str(i) for i in range(1, 7)]
    assert receiver.processed == {event.id: 1}


def test_processed_but_answer_lost_is_retried_and_deduplicated(receiver: Receiver, clock: FakeClock) -> None:
    receiver.script = [("process_then", 500), ("fail", 503)]
    event = make_event()
    with deliverer(clock) as d:
        result = d.deliver(Endpoint(receiver.url, (SECRET,)), event)
    assert result.ok and result.attempts == 3
    assert [r.verdict for r in receiver.requests] == ["processed", "failed:503", "duplicate"]
    assert receiver.processed == {event.id: 1}


def test_a_timeout_is_retried_and_the_receiver_deduplicates(receiver: Receiver, clock: FakeClock) -> None:
    release = threading.Event()
    receiver.script = [("process_then_hang", release)]
    event = make_event()
    try:
        with deliverer(clock, timeout=0.3) as d:  # the one real wait: the client's read timeout
            result = d.deliver(Endpoint(receiver.url, (SECRET,)), event)
    finally:
        release.set()
    assert result.ok and result.attempts == 2 and result.delays == [1.0]
    assert [r.verdict for r in receiver.requests] == ["processed", "duplicate"]
    assert receiver.processed == {event.id: 1}


def test_4xx_is_not_retried(receiver: Receiver, clock: FakeClock) -> None:
    for status in (400, 401, 404, 410, 413):
        receiver.script = [("fail", status)]
        with deliverer(clock) as d:
            result = d.deliver(Endpoint(receiver.url, (SECRET,)), make_event(status))
        assert result.outcome == FAILED and result.attempts == 1 and result.status == status, status
        assert "not retried" in (result.error or "")
    assert clock.slept == []


def test_a_redirect_is_not_followed(receiver: Receiver, clock: FakeClock) -> None:
    receiver.script = [("fail", 307, {"Location": "http://169.254.169.254/latest/meta-data/"})]
    with deliverer(clock) as d:
        result = d.deliver(Endpoint(receiver.url, (SECRET,)), make_event())
    assert result.outcome == FAILED and result.attempts == 1 and "redirects" in (result.error or "")
    assert len(receiver.requests) == 1


def test_a_bad_signature_is_answered_400_and_not_retried(receiver: Receiver, clock: FakeClock) -> None:
    with deliverer(clock) as d:
        result = d.deliver(Endpoint(receiver.url, (b"whsec_wrong",)), make_event())
    assert result.outcome == FAILED and result.status == 400 and result.attempts == 1
    assert receiver.requests[0].verdict == "bad_signature:signature_mismatch" and receiver.processed == {}


def test_rotation_either_secret_verifies(receiver: Receiver, clock: FakeClock) -> None:
    receiver.secrets = [b"whsec_old"]  # the receiver has not deployed the new secret yet
    with deliverer(clock) as d:
        result = d.deliver(Endpoint(receiver.url, (b"whsec_new", b"whsec_old")), make_event())
    assert result.ok
    assert receiver.requests[0].headers["X-Arena-Signature"].count("v1=") == 2


def test_connection_refused_is_retried_then_gives_up(clock: FakeClock) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    with deliverer(clock, RetryPolicy(max_attempts=5, base_delay=0.5, max_delay=3.0, jitter=False)) as d:
        result = d.deliver(Endpoint(url, (SECRET,)), make_event())
    assert result.outcome == EXHAUSTED and result.attempts == 5 and result.status is None
    assert result.delays == [0.5, 1.0, 2.0, 3.0]  # capped at max_delay
    assert "ConnectError" in (result.error or "")


def test_full_jitter_stays_under_the_ceiling_and_is_reproducible(clock: FakeClock) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    policy = RetryPolicy(max_attempts=8, base_delay=1.0, max_delay=20.0)
    with deliverer(clock, policy) as d:
        first = d.deliver(Endpoint(url, (SECRET,)), make_event())
    with deliverer(FakeClock(), policy) as d:  # the same seed
        second = d.deliver(Endpoint(url, (SECRET,)), make_event())
    assert len(first.delays) == 7 and first.delays == second.delays
    ceilings = [policy.ceiling(n) for n in range(1, 8)]
    assert ceilings == [1.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0]
    assert all(0.0 <= d <= c for d, c in zip(first.delays, ceilings, strict=True))
    assert len(set(first.delays)) == 7  # actually jittered


def test_retry_policy_delay() -> None:
    policy = RetryPolicy(base_delay=2.0, max_delay=30.0, max_retry_after=100.0, jitter=False)
    rng = random.Random(0)
    assert [policy.delay(n, rng) for n in range(1, 7)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert policy.delay(1, rng, retry_after=50.0) == 50.0
    assert policy.delay(1, rng, retry_after=5000.0) == 100.0
    assert policy.delay(10_000, rng) == 30.0  # no overflow
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_parse_retry_after() -> None:
    now = 1_767_225_600.0
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:02:00 GMT", now) == 120.0
    assert parse_retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now) == 0.0  # in the past
    for bad in (None, "", "-5", "soon", "1.5", "٣"):
        assert parse_retry_after(bad, now) is None


# -- the SSRF guard -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/hook", "bad_scheme"),
        ("file:///etc/passwd", "bad_scheme"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "bad_scheme"),
        ("example.com/hook", "bad_scheme"),
        ("http:///nohost", "bad_url"),
        ("http://exa mple.com/", "bad_url"),
        ("http://example.com:99999/", "bad_url"),
        ("http://169.254.169.254/latest/meta-data/", "forbidden_address"),
        ("http://[fd00:ec2::254]/", "forbidden_address"),
        ("http://[fe80::1]/", "forbidden_address"),
        ("http://[::ffff:169.254.169.254]/", "forbidden_address"),
        ("http://[::a9fe:a9fe]/", "forbidden_address"),  # IPv4-compatible
        ("http://[2002:a9fe:a9fe::1]/", "forbidden_address"),  # 6to4
        ("http://[64:ff9b::a9fe:a9fe]/", "forbidden_address"),  # NAT64
        ("http://[64:ff9b::7f00:1]/", "forbidden_address"),  # NAT64 to loopback
        ("http://[64:ff9b:1::a00:1]/", "forbidden_address"),  # local-use NAT64
        ("http://100.100.100.200/", "forbidden_address"),
        ("http://0.0.0.0:8000/", "forbidden_address"),
        ("http://127.0.0.1:6379/", "forbidden_address"),
        ("http://[::1]/", "forbidden_address"),
        ("http://10.0.0.5/", "forbidden_address"),
        ("http://192.168.1.10/", "forbidden_address"),
        ("http://172.16.0.1/", "forbidden_address"),
        ("http://224.0.0.1/", "forbidden_address"),
    ],
)
def test_guard_refuses(url: str, code: str) -> None:
    with pytest.raises(EndpointError) as info:
        check_endpoint(url, resolve=lambda host, port: ["93.184.216.34"])
    assert info.value.code == code


def test_guard_allows_public_and_flags() -> None:
    public = lambda host, port: ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]  # noqa: E731
    check_endpoint("https://hooks.example.com/arena?token=x", resolve=public)
    check_endpoint("http://93.184.216.34:8080/")
    check_endpoint("http://[64:ff9b::5db8:d822]/")  # NAT64 of a public address
    check_endpoint("http://127.0.0.1:9000/", AddressPolicy(allow_loopback=True))
    check_endpoint("http://[::1]:9000/", AddressPolicy(allow_loopback=True))
    check_endpoint("http://10.1.2.3/", AddressPolicy(allow_private=True))
    # The flags never open link-local, metadata or ULA ranges.
    for url in ("http://169.254.169.254/", "http://[fd00:ec2::254]/", "http://[fe80::1]/"):
        with pytest.raises(EndpointError):
            check_endpoint(url, AddressPolicy(allow_loopback=True, allow_private=True))
    with pytest.raises(EndpointError) as info:
        check_endpoint("http://127.0.0.1/", AddressPolicy(allow_private=True))
    assert "loopback" in info.value.message


def test_a_name_with_any_internal_address_is_refused() -> None:
    with pytest.raises(EndpointError) as info:
        check_endpoint("https://evil.example/", resolve=lambda host, port: ["93.184.216.34", "169.254.169.254"])
    assert info.value.code == "forbidden_address" and "169.254.169.254" in info.value.message

    def unresolvable(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(EndpointError) as info:
        check_endpoint("https://nowhere.invalid/", resolve=unresolvable)
    assert info.value.code == "unresolvable"


def test_deliver_refuses_a_forbidden_literal_without_connecting(clock: FakeClock) -> None:
    with deliverer(clock, allow_loopback=False) as d:
        result = d.deliver(Endpoint("http://169.254.169.254/latest/", (SECRET,)), make_event())
        assert result.outcome == REFUSED and result.attempts == 0 and "169.254.169.254" in (result.error or "")
        result = d.deliver(Endpoint("http://127.0.0.1:1/", (SECRET,)), make_event())
        assert result.outcome == REFUSED and "loopback" in (result.error or "")


def test_a_single_attempt_refuses_a_bad_url(clock: FakeClock) -> None:
    with deliverer(clock) as d:
        for url in ("ftp://example.com/", "http:///x", "http://169.254.169.254/"):
            result = d.attempt(Endpoint(url, (SECRET,)), make_event())
            assert result.refused and not result.retryable and not result.ok, url


def test_dns_rebinding_is_caught_at_connect_time(receiver: Receiver, clock: FakeClock) -> None:
    answers = iter([["93.184.216.34"], ["169.254.169.254"]])  # public when registered, metadata when called
    resolve = lambda host, port: next(answers)  # noqa: E731
    url = "http://rebind.example/hook"
    check_endpoint(url, resolve=resolve)
    with deliverer(clock, allow_loopback=True, resolve=resolve) as d:
        result = d.deliver(Endpoint(url, (SECRET,)), make_event())
    assert result.outcome == REFUSED and result.attempts == 1 and "forbidden_address" in (result.error or "")
    assert receiver.requests == []


def test_a_name_connects_to_the_checked_address_keeping_the_host(receiver: Receiver, clock: FakeClock) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    seen: list[str] = []

    def resolve(host: str, p: int) -> list[str]:
        seen.append(host)
        return ["::1", "127.0.0.1"]  # the receiver listens on IPv4 only: the first address is refused

    with deliverer(clock, resolve=resolve) as d:
        result = d.deliver(Endpoint(f"http://hooks.test:{port}/hook", (SECRET,)), make_event())
    assert result.ok and seen == ["hooks.test"]
    assert receiver.requests[0].headers["Host"] == f"hooks.test:{port}"


def test_a_transient_dns_failure_is_retried(clock: FakeClock) -> None:
    calls = []

    def flaky(host: str, port: int) -> list[str]:
        calls.append(host)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    with deliverer(clock, RetryPolicy(max_attempts=3, jitter=False), resolve=flaky) as d:
        result = d.deliver(Endpoint("https://hooks.example/", (SECRET,)), make_event())
    assert result.outcome == EXHAUSTED and result.attempts == 3 and len(calls) == 3


# -- endpoints, subscriptions, the worker loop -----------------------------------------------------------


def test_endpoint_validation() -> None:
    assert Endpoint("http://x/", b"s").secrets == (b"s",)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="secret"):
        Endpoint("http://x/", ())
    with pytest.raises(ValueError, match="secret"):
        Endpoint("http://x/", (b"",))
    with pytest.raises(ValueError, match="unknown event types"):
        Endpoint("http://x/", (b"s",), frozenset({"order.accepted"}))


def test_worker_loop_delivers_subscribed_events(receiver: Receiver, clock: FakeClock) -> None:
    fills_only = Endpoint(receiver.url, (SECRET,), frozenset({"order.filled"}))
    everything = Endpoint(receiver.url, (SECRET,))
    jobs: queue.Queue = queue.Queue()
    for job in [
        (fills_only, make_event(1)),
        (fills_only, make_event(2, "system.status")),  # not subscribed: skipped
        (everything, make_event(3, "system.status")),
        None,
        (everything, make_event(4)),  # after the sentinel: not taken
    ]:
        jobs.put(job)
    results = []
    with deliverer(clock) as d:
        taken = run_worker(jobs, d, on_result=lambda endpoint, result: results.append(result))
        assert taken == 3 and jobs.qsize() == 1
        assert [r.outcome for r in results] == [DELIVERED, DELIVERED]
        assert deliver_all(d, [(fills_only, make_event(5, "system.status")), (everything, make_event(6))])[0].ok
    assert len(receiver.processed) == 3
