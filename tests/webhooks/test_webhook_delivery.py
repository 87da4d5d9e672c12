"""Delivery to a real receiver on loopback: signatures, retries with backoff, de-duplication, the SSRF guard.

Time is a FakeClock shared by the deliverer and the receiver: the deliverer's sleep advances it, so a run
with minutes of backoff takes milliseconds and the receiver still checks the 300 s window.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import queue
import random
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from arena.webhooks import signing
from arena.webhooks.delivery import (
    DELIVERED,
    EXHAUSTED,
    FAILED,
    FORBIDDEN_PORT,
    REFUSED,
    UNREACHABLE,
    AddressPolicy,
    Deliverer,
    Endpoint,
    EndpointError,
    PortSet,
    RetryPolicy,
    check_endpoint,
    deliver_all,
    host_addresses,
    parse_retry_after,
    run_worker,
)
from arena.webhooks.events import WebhookEvent, event_id
from tests.api.test_service import poll
from tests.webhooks.receiver import ANY_PORT, SECRET, FakeClock, Receiver, Slowloris, serve_slowloris

OLD, NEW, WRONG = signing.new_secret(), signing.new_secret(), signing.new_secret()
NO_JITTER = RetryPolicy(max_attempts=8, base_delay=1.0, max_delay=60.0, jitter=False)


def make_event(n: int = 1, kind: str = "order.filled") -> WebhookEvent:
    return WebhookEvent(event_id(1_767_225_600_000 + n, n), kind, 1_767_225_600_000 + n, "cup", "bot-a", {"n": n})


def deliverer(
    clock: FakeClock, policy: RetryPolicy = NO_JITTER, allow_loopback: bool = True, **kwargs: Any
) -> Deliverer:
    addresses = AddressPolicy(allow_loopback=allow_loopback, ports=ANY_PORT)  # the receivers' free ports
    return Deliverer(policy, addresses=addresses, sleep=clock.sleep, clock=clock.time, rng=random.Random(7), **kwargs)


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
    assert headers["webhook-id"] == event.id  # Standard Webhooks: the event id is the signed message id
    assert headers["X-Arena-Event-Type"] == "order.filled"
    assert headers["webhook-timestamp"] == str(int(clock.now))
    assert headers["webhook-signature"] == signing.sign(SECRET, event.id, int(clock.now), event.body())
    assert not any(name.lower().startswith(("x-arena-timestamp", "x-arena-signature")) for name in headers)
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
    assert {r.headers["webhook-id"] for r in receiver.requests} == {event.id}
    assert {r.body for r in receiver.requests} == {event.body()}
    stamps = [int(r.headers["webhook-timestamp"]) for r in receiver.requests]
    assert stamps == sorted(stamps) and stamps[-1] - stamps[0] > 300  # a reused timestamp would now be stale
    assert len({r.headers["webhook-signature"] for r in receiver.requests}) == 6
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
        result = d.deliver(Endpoint(receiver.url, (WRONG,)), make_event())
    assert result.outcome == FAILED and result.status == 400 and result.attempts == 1
    assert receiver.requests[0].verdict == "bad_signature:signature_mismatch" and receiver.processed == {}


def test_rotation_either_secret_verifies(receiver: Receiver, clock: FakeClock) -> None:
    receiver.secrets = [OLD]  # the receiver has not deployed the new secret yet
    with deliverer(clock) as d:
        result = d.deliver(Endpoint(receiver.url, (NEW, OLD)), make_event())
    assert result.ok
    assert receiver.requests[0].headers["webhook-signature"].count("v1,") == 2


def test_connection_refused_is_retried_then_gives_up(clock: FakeClock) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    with deliverer(clock, RetryPolicy(max_attempts=5, base_delay=0.5, max_delay=3.0, jitter=False)) as d:
        result = d.deliver(Endpoint(url, (SECRET,)), make_event())
    assert result.outcome == EXHAUSTED and result.attempts == 5 and result.status is None
    assert result.delays == [0.5, 1.0, 2.0, 3.0]  # capped at max_delay
    assert result.error == UNREACHABLE


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
        ("http://" + "a" * 70 + ".example/", "bad_url"),  # a label over 63: the resolver would raise UnicodeError
        ("http://a..b/", "bad_url"),
        ("http://xn--a.example/", "bad_url"),  # not valid punycode: the client would raise
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
        check_endpoint(url, AddressPolicy(ports=ANY_PORT), resolve=lambda host, port: ["93.184.216.34"])
    assert info.value.code == code


def test_guard_allows_public_and_flags() -> None:
    public = lambda host, port: ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]  # noqa: E731
    check_endpoint("https://hooks.example.com/arena?token=x", resolve=public)
    check_endpoint("http://93.184.216.34:8080/")
    check_endpoint("http://[64:ff9b::5db8:d822]/")  # NAT64 of a public address
    check_endpoint("http://127.0.0.1:8443/", AddressPolicy(allow_loopback=True))
    check_endpoint("http://[::1]:9000/", AddressPolicy(allow_loopback=True, ports=ANY_PORT))
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
    # The kind of address is named, not the address: internal names are not mapped to internal addresses.
    assert info.value.code == "forbidden_address" and "169.254.169.254" not in info.value.message
    assert info.value.message == "evil.example resolves to a link-local, metadata or otherwise unroutable address"

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
    assert Endpoint("http://x/", SECRET).secrets == (SECRET,)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="secret"):
        Endpoint("http://x/", ())
    for bad in ("", "whsec_", "whsec_not base64!", "raw-secret", b"whsec_abc"):
        with pytest.raises(ValueError, match="secret"):
            Endpoint("http://x/", (bad,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="secret"):
        Endpoint("http://x/", (SECRET,) * 9)  # more than MAX_SIGNATURES
    with pytest.raises(ValueError, match="unknown event types"):
        Endpoint("http://x/", (SECRET,), frozenset({"order.accepted"}))


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


# -- one deadline per attempt, and no port-scan oracle ------------------------------------------------------


@pytest.mark.parametrize("mode", ["dribble", "silent"])
def test_an_attempt_ends_by_its_deadline_however_the_endpoint_stalls(mode: str, clock: FakeClock) -> None:
    # dribble: a byte of the answer every 0.1 s, so each read succeeds and a per-read timeout never fires
    with serve_slowloris(Slowloris(mode)) as slow, deliverer(clock, timeout=1.0) as d:
        started = time.monotonic()
        result = d.attempt(Endpoint(slow.url, (SECRET,)), make_event())
        took = time.monotonic() - started
        lifetimes = poll(lambda: list(slow.lifetimes), bool, 5)
    assert result.error == UNREACHABLE and result.retryable and result.status is None
    assert 0.9 <= took < 1.5, took
    assert len(lifetimes) == 1 and lifetimes[0] < 1.5, lifetimes  # we hung up at the deadline


def test_a_stuck_name_lookup_counts_against_the_deadline(clock: FakeClock) -> None:
    release = threading.Event()

    def stuck(host: str, port: int) -> list[str]:
        release.wait(10)  # a resolver that does not answer (getaddrinfo takes no timeout)
        return ["127.0.0.1"]

    try:
        with deliverer(clock, timeout=0.5, resolve=stuck) as d:
            started = time.monotonic()
            result = d.attempt(Endpoint("http://slow-dns.test/hook", (SECRET,)), make_event())
            took = time.monotonic() - started
    finally:
        release.set()
    assert result.error == UNREACHABLE and result.retryable and took < 1.0, (result, took)


@contextlib.contextmanager
def listener(on_accept: Callable[[socket.socket], None] | None, backlog: int = 8) -> Iterator[str]:
    """A loopback TCP listener whose accepted connections get ``on_accept``; None: never accept."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(backlog)
    server.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while on_accept is not None and not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                on_accept(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/hook"
    finally:
        stop.set()
        thread.join(5)
        server.close()


def reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST


def banner(conn: socket.socket) -> None:
    conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")


def test_no_failure_tells_a_closed_port_from_a_filtered_or_refusing_one(clock: FakeClock) -> None:
    errors = {}
    with deliverer(clock, timeout=0.5) as d:
        errors["closed (refused)"] = d.attempt(Endpoint(f"http://127.0.0.1:{free_port()}/", (SECRET,)), make_event())
        for name, behaviour in [("reset", reset), ("a non-HTTP banner", banner)]:
            with listener(behaviour) as url:
                errors[name] = d.attempt(Endpoint(url, (SECRET,)), make_event())
        with serve_slowloris(Slowloris("silent")) as silent:
            errors["accepts, never answers"] = d.attempt(Endpoint(silent.url, (SECRET,)), make_event())
        with listener(None, backlog=0) as url:  # a full accept queue drops SYNs, as a firewall would
            port = int(url.split(":")[2].split("/")[0])
            held = socket.create_connection(("127.0.0.1", port))
            try:
                errors["filtered (SYN dropped)"] = d.attempt(Endpoint(url, (SECRET,)), make_event())
            finally:
                held.close()
    assert {name: (r.status, r.error, r.retryable) for name, r in errors.items()} == {
        name: (None, UNREACHABLE, True) for name in errors
    }


def test_a_port_outside_the_allowed_list_is_refused_at_registration_and_at_connect(
    receiver: Receiver, clock: FakeClock
) -> None:
    web_ports = AddressPolicy(allow_loopback=True)  # the default list: 80, 443, 8080-8443
    assert str(web_ports.ports) == "80, 443, 8080-8443"
    for url in ("http://93.184.216.34:22/", "https://93.184.216.34:6379/", "http://93.184.216.34:8444/"):
        with pytest.raises(EndpointError) as info:
            check_endpoint(url)
        assert info.value.code == FORBIDDEN_PORT and "80, 443, 8080-8443" in info.value.message, url
    for url in ("http://93.184.216.34/", "https://93.184.216.34/", "https://93.184.216.34:8443/"):
        check_endpoint(url)
    # At delivery too (the list may have been narrowed since the URL was registered): nothing is sent.
    with Deliverer(NO_JITTER, addresses=web_ports, sleep=clock.sleep, clock=clock.time) as d:
        result = d.deliver(Endpoint(receiver.url, (SECRET,)), make_event())
        named = d.attempt(Endpoint(receiver.url.replace("127.0.0.1", "hooks.test"), (SECRET,)), make_event())
    assert result.outcome == REFUSED and result.attempts == 0 and FORBIDDEN_PORT in (result.error or "")
    assert named.refused and FORBIDDEN_PORT in (named.error or "")
    assert receiver.requests == []


@pytest.mark.parametrize("spec", ["", "0", "70000", "9-8", "80;443", "http", "١٢", "80,", "-1"])
def test_a_bad_port_list_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="allowed webhook ports"):
        PortSet.parse(spec)


def test_this_hosts_own_addresses_are_refused_even_where_private_ones_are_allowed() -> None:
    # Every address `ip` lists on this machine's interfaces (loopback aside) is refused, in any form.
    listed = json.loads(subprocess.run(["ip", "-j", "addr"], check=True, capture_output=True, text=True).stdout)
    own = {i["local"] for link in listed for i in link.get("addr_info", [])}
    on_premises = AddressPolicy(allow_private=True)
    for address in own - {"127.0.0.1", "::1"}:
        assert on_premises.refusal(address) is not None, address
    for address in {a for a in own if ":" not in a} - {"127.0.0.1"}:
        assert on_premises.refusal(f"::ffff:{address}") is not None, address  # IPv4-mapped
    assert {ipaddress.ip_address(a) for a in own} <= host_addresses()
    # A public address on one of this host's interfaces is refused like a private one.
    public = ipaddress.ip_address("93.184.216.34")
    policy = AddressPolicy(own_addresses=lambda: frozenset({public}))
    with pytest.raises(EndpointError) as info:
        check_endpoint("https://me.example/", policy, resolve=lambda host, port: ["93.184.216.34"])
    assert info.value.message == "me.example resolves to this server's own address"
    check_endpoint("https://93.184.216.35/", policy)  # its neighbour is someone else's


def test_the_operator_can_deny_more_networks() -> None:
    policy = AddressPolicy.of(denied=["93.184.216.0/24", "2606:2800::/32"])  # e.g. our NAT'd public address
    for url in ("https://93.184.216.34/", "https://[2606:2800:220:1::1]/", "https://[::ffff:93.184.216.34]/"):
        with pytest.raises(EndpointError) as info:
            check_endpoint(url, policy)
        assert "the operator denies" in info.value.message, url
    check_endpoint("https://93.184.217.34/", policy)
    with pytest.raises(ValueError):
        AddressPolicy.of(denied=["not-a-network"])
