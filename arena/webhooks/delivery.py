"""Webhook delivery: POST one signed event to a contestant's endpoint, retrying what may succeed later.

Retries (tenacity) on network errors, 5xx and 429, with exponential backoff and full jitter, honouring
Retry-After; never on another 4xx (or a 3xx: redirects are not followed). The event id stays the same
across attempts so the receiver can de-duplicate (a timeout does not prove the receiver did not process
it); the timestamp and signature are made afresh for each attempt so a late retry is not stale.

SSRF guard: the URL must be http(s), and every address its host resolves to must be public — checked
when an endpoint is registered (:func:`check_endpoint`) and again when the socket connects (a guarded
network backend that connects to the address it checked), so DNS rebinding between the two cannot reach
the cloud metadata service or the internal network. Loopback only with ``allow_loopback`` (tests, dev).
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import queue
import random
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_attempt

from arena.webhooks.events import EVENT_TYPES, WebhookEvent
from arena.webhooks.signing import signature_header

log = logging.getLogger(__name__)

USER_AGENT = "arena-webhooks/1"

# EndpointError codes
BAD_URL = "bad_url"
BAD_SCHEME = "bad_scheme"
FORBIDDEN_ADDRESS = "forbidden_address"
UNRESOLVABLE = "unresolvable"

# Never reachable, whatever the flags: link-local (cloud metadata lives there), the IPv6 metadata ULA
# range, "this network", multicast, and the metadata address some clouds put in shared space.
_ALWAYS_DENIED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "169.254.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "100.100.100.200/32",
        "::/96",  # unspecified, and IPv4-compatible (::169.254.169.254); ::1 is taken by the loopback check first
        "64:ff9b:1::/48",  # local-use NAT64
        "fe80::/10",
        "fd00::/8",
        "ff00::/8",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))

Resolver = Callable[[str, int], list[str]]


class EndpointError(ValueError):
    """A webhook URL that Arena will not call. ``code``: bad_url, bad_scheme, forbidden_address, unresolvable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def system_resolver(host: str, port: int) -> list[str]:
    return list(dict.fromkeys(info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)))


@dataclass(frozen=True)
class AddressPolicy:
    allow_loopback: bool = False  # tests and local development
    allow_private: bool = False  # RFC 1918 etc.: an on-premises install whose contestants are on the LAN

    def check(self, address: str) -> None:
        """Raise EndpointError unless ``address`` (an IP literal) may be called."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
        except ValueError:
            raise EndpointError(BAD_URL, f"{address!r} is not an IP address") from None
        if isinstance(ip, ipaddress.IPv6Address):
            # An IPv4 address inside IPv6 reaches that IPv4 host: ::ffff:a.b.c.d, 6to4, well-known NAT64.
            if ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            elif ip.sixtofour is not None:
                ip = ip.sixtofour
            elif ip in _NAT64:
                ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if any(ip in net for net in _LOOPBACK if net.version == ip.version):
            if self.allow_loopback:
                return
            raise EndpointError(FORBIDDEN_ADDRESS, f"{address} is a loopback address")
        if any(ip in net for net in _ALWAYS_DENIED if net.version == ip.version):
            raise EndpointError(FORBIDDEN_ADDRESS, f"{address} is link-local, metadata or otherwise not routable")
        if ip.is_global:
            return
        if self.allow_private and ip.is_private:
            return
        raise EndpointError(FORBIDDEN_ADDRESS, f"{address} is not a public address")


def _split(url: str) -> tuple[str, str, int]:
    if not isinstance(url, str) or len(url) > 2048 or any(c.isspace() for c in url):
        raise EndpointError(BAD_URL, "the webhook URL must be a string of at most 2048 characters, no spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise EndpointError(BAD_URL, f"cannot parse the webhook URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise EndpointError(BAD_SCHEME, f"the webhook URL must be http:// or https://, got {scheme or 'none'!r}")
    if not parts.hostname:
        raise EndpointError(BAD_URL, "the webhook URL has no host")
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def resolve_checked(host: str, port: int, policy: AddressPolicy, resolve: Resolver) -> list[str]:
    """The addresses of ``host``, all of them allowed by ``policy`` (else EndpointError)."""
    if _is_ip(host):
        addresses = [host]
    else:
        try:
            addresses = resolve(host, port)
        except OSError as exc:
            raise EndpointError(UNRESOLVABLE, f"cannot resolve {host!r}: {exc}") from None
        if not addresses:
            raise EndpointError(UNRESOLVABLE, f"{host!r} has no address")
    # One bad address refuses the host: a name that also points inside is not to be trusted.
    for address in addresses:
        policy.check(address)
    return addresses


def check_endpoint(url: str, policy: AddressPolicy | None = None, resolve: Resolver = system_resolver) -> None:
    """Registration-time check of a contestant's webhook URL. Raises EndpointError saying what to fix."""
    _, host, port = _split(url)
    resolve_checked(host, port, policy or AddressPolicy(), resolve)


class _GuardedBackend(httpcore.SyncBackend):
    """Resolves and checks the host itself, then connects to the checked address (no second lookup)."""

    def __init__(self, policy: AddressPolicy, resolve: Resolver) -> None:
        self.policy = policy
        self.resolve = resolve

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, **kwargs: Any) -> httpcore.NetworkStream:
        try:
            addresses = resolve_checked(host, port, self.policy, self.resolve)
        except EndpointError as exc:
            if exc.code == UNRESOLVABLE:  # DNS may be back on the next attempt
                raise httpcore.ConnectError(str(exc)) from None
            raise
        error: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(address, port, timeout, **kwargs)
            except httpcore.ConnectError as exc:  # try the next address, like create_connection would
                error = exc
        assert error is not None
        raise error


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self, policy: AddressPolicy, resolve: Resolver) -> None:
        super().__init__(trust_env=False, retries=0)  # no proxies from the environment: they bypass the guard
        # httpx has no public hook for the network backend; its pool is the documented httpcore one.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=10,
            network_backend=_GuardedBackend(policy, resolve),
        )


# -- retry policy -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Attempt n (1-based) failed retryably: wait uniform(0, min(max_delay, base_delay * 2**(n-1))).

    With the defaults the ceilings are 1, 2, 4, 8, 16, 32, 60 s: at most ~2 min over 8 attempts, so one
    worker is not tied up for long; a queue can re-enqueue an exhausted delivery for later.
    A Retry-After (seconds or an HTTP date) is a floor, capped at ``max_retry_after``.
    """

    max_attempts: int = 8
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 600.0
    jitter: bool = True  # full jitter; off only for deterministic tests and benchmarks

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("max_attempts >= 1 and non-negative delays")

    def ceiling(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * 2.0 ** min(attempt - 1, 62))

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        ceiling = self.ceiling(attempt)
        wait = rng.uniform(0.0, ceiling) if self.jitter else ceiling
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after))
        return wait


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


# -- delivery -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One contestant's webhook: where, the active secrets (several while rotating), which event types."""

    url: str
    secrets: tuple[bytes, ...]
    event_types: frozenset[str] | None = None  # None: every type

    def __post_init__(self) -> None:
        secrets = (self.secrets,) if isinstance(self.secrets, bytes) else tuple(self.secrets)
        if not secrets or not all(isinstance(s, bytes) and s for s in secrets):
            raise ValueError("an endpoint needs at least one non-empty secret (bytes)")
        object.__setattr__(self, "secrets", secrets)
        if self.event_types is not None:
            unknown = set(self.event_types) - set(EVENT_TYPES)
            if unknown:
                raise ValueError(f"unknown event types {sorted(unknown)}; expected some of {', '.join(EVENT_TYPES)}")
            object.__setattr__(self, "event_types", frozenset(self.event_types))

    def wants(self, event: WebhookEvent) -> bool:
        return self.event_types is None or event.type in self.event_types


@dataclass(frozen=True)
class AttemptResult:
    status: int | None  # HTTP status, None when no response came
    error: str | None
    retryable: bool
    retry_after: float | None = None
    refused: bool = False  # the SSRF guard refused the address

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


# DeliveryResult.outcome
DELIVERED = "delivered"
FAILED = "failed"  # a permanent failure: 4xx other than 429, or 3xx
EXHAUSTED = "exhausted"  # still failing retryably after max_attempts
REFUSED = "refused"  # the SSRF guard refused the URL or the address its host resolved to


@dataclass(frozen=True)
class DeliveryResult:
    event_id: str
    outcome: str
    attempts: int
    status: int | None
    error: str | None
    delays: list[float] = field(default_factory=list)  # seconds slept between attempts

    @property
    def ok(self) -> bool:
        return self.outcome == DELIVERED


def _host(url: str) -> str:
    return urlsplit(url).hostname or "?"  # for logs: never the path or query, which may hold a token


class Deliverer:
    """Delivers events to endpoints. ``sleep``, ``clock`` (Unix seconds) and ``rng`` are injectable."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        allow_loopback: bool = False,
        allow_private: bool = False,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        resolve: Resolver = system_resolver,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.addresses = AddressPolicy(allow_loopback=allow_loopback, allow_private=allow_private)
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()  # its own generator: tests pass a seeded one
        self.resolve = resolve
        self.client = httpx.Client(
            transport=_GuardedTransport(self.addresses, resolve),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            follow_redirects=False,  # a redirect could point anywhere, past the guard's first check
            trust_env=False,
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Deliverer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check(self, url: str) -> None:
        check_endpoint(url, self.addresses, self.resolve)

    def request(self, endpoint: Endpoint, event: WebhookEvent, attempt: int = 1) -> tuple[dict[str, str], bytes]:
        """Headers and body of one attempt: signed now, with this attempt's timestamp."""
        body = event.body()
        timestamp = int(self.clock())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Arena-Event-Id": event.id,
            "X-Arena-Event-Type": event.type,
            "X-Arena-Timestamp": str(timestamp),
            "X-Arena-Signature": signature_header(endpoint.secrets, timestamp, body),
            "X-Arena-Delivery-Attempt": str(attempt),
        }
        return headers, body

    def attempt(self, endpoint: Endpoint, event: WebhookEvent, attempt: int = 1) -> AttemptResult:
        """One POST. Never raises for the endpoint's behaviour; a queue-driven worker can call this and
        schedule the next try itself with ``policy.delay``."""
        try:
            _split(endpoint.url)  # httpx would call a bad scheme a (retryable) transport error
        except EndpointError as exc:
            return AttemptResult(None, str(exc), retryable=False, refused=True)
        headers, body = self.request(endpoint, event, attempt)
        try:
            # stream: the response body is never read, so a hostile endpoint cannot make us buffer it
            with self.client.stream("POST", endpoint.url, content=body, headers=headers) as response:
                status = response.status_code
                retry_after = parse_retry_after(response.headers.get("Retry-After"), self.clock())
        except EndpointError as exc:
            return AttemptResult(None, str(exc), retryable=False, refused=True)
        except httpx.TransportError as exc:  # refused, reset, timeout, DNS failure: may work later
            return AttemptResult(None, f"{type(exc).__name__}: {exc}", retryable=True)
        if 200 <= status < 300:
            return AttemptResult(status, None, retryable=False)
        if status == 429 or status >= 500:
            return AttemptResult(status, f"HTTP {status}", retryable=True, retry_after=retry_after)
        reason = "redirects are not followed" if 300 <= status < 400 else "not retried"
        return AttemptResult(status, f"HTTP {status} ({reason})", retryable=False)

    def deliver(self, endpoint: Endpoint, event: WebhookEvent) -> DeliveryResult:
        """Deliver with retries (blocking, sleeping through the injected ``sleep``)."""
        try:
            # The URL's form and an IP-literal host now; a name is resolved and checked at each connect.
            _, host, _ = _split(endpoint.url)
            if _is_ip(host):
                self.addresses.check(host)
        except EndpointError as exc:
            return DeliveryResult(event.id, REFUSED, 0, None, str(exc))
        delays: list[float] = []
        count = [0]

        def one() -> AttemptResult:
            count[0] += 1
            result = self.attempt(endpoint, event, count[0])
            if not result.ok:
                log.info("webhook %s to %s: attempt %d: %s", event.id, _host(endpoint.url), count[0], result.error)
            return result

        def wait(state: RetryCallState) -> float:
            last: AttemptResult = state.outcome.result()  # type: ignore[union-attr]
            return self.policy.delay(state.attempt_number, self.rng, last.retry_after)

        def sleep(seconds: float) -> None:
            delays.append(seconds)
            self.sleep(seconds)

        retrying = Retrying(
            stop=stop_after_attempt(self.policy.max_attempts),
            wait=wait,
            retry=retry_if_result(lambda r: r.retryable),
            sleep=sleep,
            retry_error_callback=lambda state: state.outcome.result(),  # type: ignore[union-attr]
        )
        final: AttemptResult = retrying(one)
        if final.ok:
            outcome = DELIVERED
        elif final.refused:
            outcome = REFUSED
        elif final.retryable:
            outcome = EXHAUSTED
        else:
            outcome = FAILED
        return DeliveryResult(event.id, outcome, count[0], final.status, final.error, delays)


Job = tuple[Endpoint, WebhookEvent]


def deliver_all(deliverer: Deliverer, jobs: Iterable[Job]) -> list[DeliveryResult]:
    """Deliver each job the endpoint subscribes to, one after another."""
    return [deliverer.deliver(endpoint, event) for endpoint, event in jobs if endpoint.wants(event)]


def run_worker(
    jobs: queue.Queue[Job | None],
    deliverer: Deliverer,
    on_result: Callable[[Endpoint, DeliveryResult], None] | None = None,
    max_jobs: int | None = None,
) -> int:
    """A Celery-free worker loop: take jobs until a None sentinel (or ``max_jobs``); returns how many ran.

    Sequential: one endpoint's retries hold up the jobs behind it, so run one loop per worker thread.
    """
    done = 0
    while max_jobs is None or done < max_jobs:
        job = jobs.get()
        if job is None:
            break
        endpoint, event = job
        if endpoint.wants(event):
            result = deliverer.deliver(endpoint, event)
            if on_result is not None:
                on_result(endpoint, result)
        done += 1
    return done
