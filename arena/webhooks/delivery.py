"""Webhook delivery: POST one signed event to a contestant's endpoint, retrying what may succeed later.

Retries (tenacity) on network errors, 5xx and 429, with exponential backoff and full jitter, honouring
Retry-After; never on another 4xx (or a 3xx: redirects are not followed). The event id (the signed
webhook-id) stays the same across attempts so the receiver can de-duplicate (a timeout does not prove the
receiver did not process it); the timestamp and signature are made afresh for each attempt so a late retry
is not stale.

SSRF guard: the URL must be http(s) on an allowed port (:class:`PortSet`, by default 80, 443 and 8080-8443),
and every address its host resolves to must be public and not this host's own — checked when an endpoint is
registered (:func:`check_endpoint`) and again when the socket connects (httpcore's public connection pool
on a guarded network backend that connects to the address it checked), so DNS rebinding between the two
cannot reach the cloud metadata service, the internal network or the server itself. Loopback only with
``allow_loopback`` (tests, dev).

One attempt has one deadline (``timeout``, 10 s) for all of it — name lookup, connect, TLS, sending, the
answer's headers — so an endpoint that accepts and then dribbles its answer a byte at a time is cut off
at the deadline like one that never answers. Every transport failure is reported as the same
``unreachable`` error (the detail goes to the operator's log only): what a contestant can read back must
not tell a closed port from a filtered or a refusing one, or Arena becomes a port scanner.
"""

from __future__ import annotations

import email.utils
import ipaddress
import logging
import queue
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx
import psutil
from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_attempt

from arena.webhooks import signing
from arena.webhooks.events import EVENT_TYPES, WebhookEvent

log = logging.getLogger(__name__)

USER_AGENT = "arena-webhooks/1"

# EndpointError codes
BAD_URL = "bad_url"
BAD_SCHEME = "bad_scheme"
FORBIDDEN_ADDRESS = "forbidden_address"
FORBIDDEN_PORT = "forbidden_port"
UNRESOLVABLE = "unresolvable"

# The one error of every failed connection, timeout, reset or non-HTTP answer (see the module's docstring).
UNREACHABLE = "unreachable: no HTTP answer within the attempt's deadline (connection failed or timed out)"
DEFAULT_PORTS = "80,443,8080-8443"

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
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class EndpointError(ValueError):
    """A webhook URL that Arena will not call. ``code``: bad_url, bad_scheme, forbidden_address, unresolvable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def system_resolver(host: str, port: int) -> list[str]:
    return list(dict.fromkeys(str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)))


class _HostAddresses:
    """This host's interface addresses, read again at most every ``ttl_s`` (an address may come with DHCP)."""

    def __init__(self, ttl_s: float = 30.0) -> None:
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._read_at = -float("inf")
        self._addresses: frozenset[IPAddress] = frozenset()

    def __call__(self) -> frozenset[IPAddress]:
        with self._lock:
            if time.monotonic() - self._read_at > self.ttl_s:
                found = set()
                for addresses in psutil.net_if_addrs().values():
                    for address in addresses:
                        if address.family in (socket.AF_INET, socket.AF_INET6):
                            found.add(ipaddress.ip_address(address.address.split("%", 1)[0]))
                self._addresses, self._read_at = frozenset(found), time.monotonic()
            return self._addresses


host_addresses = _HostAddresses()


@dataclass(frozen=True)
class PortSet:
    """The ports a webhook URL may name: ``"80,443,8080-8443"`` (single ports and inclusive ranges)."""

    ranges: tuple[tuple[int, int], ...]

    @classmethod
    def parse(cls, spec: str) -> PortSet:
        ranges = []
        for part in (p.strip() for p in spec.split(",")):
            match = re.fullmatch(r"([0-9]{1,5})(?:-([0-9]{1,5}))?", part)
            low, high = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else (0, 0)
            if not 1 <= low <= high <= 65535:
                raise ValueError(f"allowed webhook ports: {part!r} is not a port or a range like 8080-8443")
            ranges.append((low, high))
        return cls(tuple(ranges))

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and any(low <= port <= high for low, high in self.ranges)

    def __str__(self) -> str:
        return ", ".join(str(low) if low == high else f"{low}-{high}" for low, high in self.ranges)


@dataclass(frozen=True)
class AddressPolicy:
    allow_loopback: bool = False  # tests and local development
    allow_private: bool = False  # RFC 1918 etc.: an on-premises install whose contestants are on the LAN
    ports: PortSet = field(default_factory=lambda: PortSet.parse(DEFAULT_PORTS))
    # Refused besides the built-in ranges: e.g. this host's public address where NAT keeps it off the interfaces.
    denied: tuple[IPNetwork, ...] = ()
    own_addresses: Callable[[], frozenset[IPAddress]] = field(default=host_addresses, compare=False)

    @classmethod
    def of(
        cls, *, allow_loopback: bool = False, ports: str = DEFAULT_PORTS, denied: Iterable[str] = ()
    ) -> AddressPolicy:
        """From settings' values (ValueError names a bad one)."""
        return cls(allow_loopback, ports=PortSet.parse(ports), denied=tuple(ipaddress.ip_network(n) for n in denied))

    def check_port(self, port: int) -> None:
        if port not in self.ports:
            raise EndpointError(FORBIDDEN_PORT, f"port {port} is not allowed; webhooks may use ports {self.ports}")

    def check(self, address: str) -> None:
        """Raise EndpointError unless ``address`` (an IP literal) may be called."""
        reason = self.refusal(address)
        if reason is not None:
            raise EndpointError(FORBIDDEN_ADDRESS, f"{address} is {reason}")

    def refusal(self, address: str) -> str | None:
        """Why ``address`` may not be called (``"a loopback address"``, ...), or None if it may."""
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
            return None if self.allow_loopback else "a loopback address"
        if any(ip in net for net in _ALWAYS_DENIED if net.version == ip.version):
            return "a link-local, metadata or otherwise unroutable address"
        if any(ip in net for net in self.denied if net.version == ip.version):
            return "an address the operator denies"
        if ip in self.own_addresses():  # its services may listen on every interface, the public one too
            return "this server's own address"
        if ip.is_global or (self.allow_private and ip.is_private):
            return None
        return "not a public address"


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
    if not _is_ip(parts.hostname):
        try:  # what the HTTP client and the resolver would refuse with an exception of their own
            _ = httpx.URL(url).host  # decodes an IDNA name
            parts.hostname.encode("idna")
        except (httpx.InvalidURL, UnicodeError) as exc:
            raise EndpointError(BAD_URL, f"the webhook URL's host is not a valid name: {exc}") from None
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
        policy.check(host)
        return [host]
    try:
        addresses = resolve(host, port)
    except OSError as exc:
        raise EndpointError(UNRESOLVABLE, f"cannot resolve {host!r}: {exc}") from None
    if not addresses:
        raise EndpointError(UNRESOLVABLE, f"{host!r} has no address")
    # One bad address refuses the host: a name that also points inside is not to be trusted. The message
    # names the kind of address, not the address, so it does not map internal names to internal addresses.
    for address in addresses:
        reason = policy.refusal(address)
        if reason is not None:
            raise EndpointError(FORBIDDEN_ADDRESS, f"{host} resolves to {reason}")
    return addresses


def check_endpoint(url: str, policy: AddressPolicy | None = None, resolve: Resolver = system_resolver) -> None:
    """Registration-time check of a contestant's webhook URL. Raises EndpointError saying what to fix."""
    policy = policy or AddressPolicy()
    _, host, port = _split(url)
    policy.check_port(port)
    resolve_checked(host, port, policy, resolve)


# -- one deadline for a whole attempt ---------------------------------------------------------------------

# Set by Deliverer.attempt for the calling thread (a sync httpcore request runs entirely in it); the network
# backend and its streams bound each step by what is left of it.
_DEADLINE: ContextVar[float | None] = ContextVar("webhook_attempt_deadline", default=None)
_WRITE_CHUNK = 16 * 1024  # each chunk's wait is bounded by what is left, so a slow reader cannot stretch it


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the attempt's deadline has passed")
    return left if timeout is None else min(timeout, left)


def _resolve_by_deadline(resolve: Resolver, host: str, port: int) -> list[str]:
    """``resolve`` in a helper thread, given up (OSError) at the deadline: getaddrinfo takes no timeout."""
    wait = _left(None, OSError)
    if wait is None:
        return resolve(host, port)
    answer: list[Any] = []

    def run() -> None:
        try:
            answer.append(resolve(host, port))
        except Exception as exc:
            answer.append(exc)

    thread = threading.Thread(target=run, name="arena-webhook-dns", daemon=True)
    thread.start()
    thread.join(wait)
    if not answer:
        raise OSError("the name lookup did not finish before the attempt's deadline")
    if isinstance(answer[0], Exception):
        raise answer[0]
    return answer[0]


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        for start in range(0, len(buffer), _WRITE_CHUNK):
            self._stream.write(buffer[start : start + _WRITE_CHUNK], _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        return _DeadlineStream(
            self._stream.start_tls(ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout))
        )

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _GuardedBackend(httpcore.SyncBackend):
    """Resolves and checks the host itself, then connects to the checked address (no second lookup)."""

    def __init__(self, policy: AddressPolicy, resolve: Resolver) -> None:
        self.policy = policy
        self.resolve = resolve

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        self.policy.check_port(port)
        try:
            addresses = resolve_checked(host, port, self.policy, lambda h, p: _resolve_by_deadline(self.resolve, h, p))
        except EndpointError as exc:
            if exc.code == UNRESOLVABLE:  # DNS may be back on the next attempt
                raise httpcore.ConnectError(str(exc)) from None
            raise
        error: Exception | None = None
        for address in addresses:
            try:
                stream = super().connect_tcp(address, port, _left(timeout, httpcore.ConnectTimeout), local_address,
                                             socket_options)  # fmt: skip
                return _DeadlineStream(stream)
            except httpcore.ConnectError as exc:  # try the next address, like create_connection would
                error = exc
        assert error is not None
        raise error


# What an attempt that got no HTTP answer raises: refused, reset, timeout, DNS failure, not HTTP (may work later).
_TRANSPORT_ERRORS = (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError,
                     httpcore.UnsupportedProtocol)  # fmt: skip


def _guarded_pool(policy: AddressPolicy, resolve: Resolver, max_connections: int) -> httpcore.ConnectionPool:
    """httpcore's public connection pool on the guarded backend. No proxies (they would bypass the guard), no
    redirects (httpcore follows none), no retries of its own (the RetryPolicy decides)."""
    return httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=max_connections,  # at least the attempts in flight: slow endpoints hold theirs
        retries=0,
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
    """One contestant's webhook: where, its active ``whsec_`` secrets (several while rotating), which events."""

    url: str
    secrets: tuple[str, ...]
    event_types: frozenset[str] | None = None  # None: every type

    def __post_init__(self) -> None:
        secrets = (self.secrets,) if isinstance(self.secrets, str) else tuple(self.secrets)
        if not secrets or len(secrets) > signing.MAX_SIGNATURES:
            raise ValueError(f"an endpoint needs 1 to {signing.MAX_SIGNATURES} secrets")
        for secret in secrets:
            signing.key(secret)  # SignatureError (a ValueError) unless a whsec_ secret
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


def _wire_url(url: str) -> httpcore.URL:
    """``url`` as sent: httpx's parsing (an IDNA host in punycode, the path and query percent-encoded)."""
    parsed = httpx.URL(url)
    return httpcore.URL(scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port, target=parsed.raw_path)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    """The first ``name`` header's value (names compared case-blind), decoded leniently: it is the endpoint's."""
    value = next((v for k, v in headers if k.lower() == name), None)
    return None if value is None else value.decode("latin-1")


def _host(url: str) -> str:
    return urlsplit(url).hostname or "?"  # for logs: never the path or query, which may hold a token


class Deliverer:
    """Delivers events to endpoints. ``sleep``, ``clock`` (Unix seconds) and ``rng`` are injectable.

    ``timeout`` is the deadline of one whole attempt; ``max_connections`` should be at least the number of
    attempts made at once (the dispatcher's workers)."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        addresses: AddressPolicy | None = None,
        timeout: float = 10.0,
        max_connections: int = 32,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        resolve: Resolver = system_resolver,
    ) -> None:
        if timeout <= 0:
            raise ValueError("the attempt deadline must be positive")
        self.policy = policy or RetryPolicy()
        self.addresses = addresses or AddressPolicy()
        self.timeout = timeout
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()  # its own generator: tests pass a seeded one
        self.resolve = resolve
        self.pool = _guarded_pool(self.addresses, resolve, max_connections)
        # Per step; the attempt's deadline bounds them all.
        self.timeouts = {"connect": min(timeout, 5.0), "read": timeout, "write": timeout, "pool": timeout}

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> Deliverer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check(self, url: str) -> None:
        check_endpoint(url, self.addresses, self.resolve)

    def request(self, endpoint: Endpoint, event: WebhookEvent, attempt: int = 1) -> tuple[dict[str, str], bytes]:
        """Headers and body of one attempt: signed now (Standard Webhooks), with this attempt's timestamp and
        the event's id as webhook-id."""
        body = event.body()
        return {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signing.headers(endpoint.secrets, event.id, int(self.clock()), body),
            "X-Arena-Event-Type": event.type,
            "X-Arena-Delivery-Attempt": str(attempt),
        }, body

    def attempt(self, endpoint: Endpoint, event: WebhookEvent, attempt: int = 1) -> AttemptResult:
        """One POST. Never raises for the endpoint's behaviour; a queue-driven worker can call this and
        schedule the next try itself with ``policy.delay``."""
        try:
            _, _, port = _split(endpoint.url)  # httpcore would call a bad scheme a (retryable) transport error
            self.addresses.check_port(port)
        except EndpointError as exc:
            return AttemptResult(None, str(exc), retryable=False, refused=True)
        headers, body = self.request(endpoint, event, attempt)
        deadline = _DEADLINE.set(time.monotonic() + self.timeout)
        try:
            # stream: the response body is never read, so a hostile endpoint cannot make us buffer it
            with self.pool.stream("POST", _wire_url(endpoint.url), headers=list(headers.items()), content=body,
                                  extensions={"timeout": self.timeouts}) as response:  # fmt: skip
                status = response.status
                retry_after = parse_retry_after(_header(response.headers, b"retry-after"), self.clock())
        except EndpointError as exc:
            return AttemptResult(None, str(exc), retryable=False, refused=True)
        except _TRANSPORT_ERRORS as exc:
            log.info("webhook %s to %s: %s: %s", event.id, _host(endpoint.url), type(exc).__name__, exc)
            return AttemptResult(None, UNREACHABLE, retryable=True)
        finally:
            _DEADLINE.reset(deadline)
        if 200 <= status < 300:
            return AttemptResult(status, None, retryable=False)
        if status == 429 or status >= 500:
            return AttemptResult(status, f"HTTP {status}", retryable=True, retry_after=retry_after)
        reason = "redirects are not followed" if 300 <= status < 400 else "not retried"
        return AttemptResult(status, f"HTTP {status} ({reason})", retryable=False)

    def deliver(self, endpoint: Endpoint, event: WebhookEvent) -> DeliveryResult:
        """Deliver with retries (blocking, sleeping through the injected ``sleep``)."""
        try:
            # The URL's form, its port and an IP-literal host now; a name is resolved and checked at each connect.
            _, host, port = _split(endpoint.url)
            self.addresses.check_port(port)
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
            return self.policy.delay(state.attempt_number, self.rng, _last_result(state).retry_after)

        def sleep(seconds: float) -> None:
            delays.append(seconds)
            self.sleep(seconds)

        retrying = Retrying(
            stop=stop_after_attempt(self.policy.max_attempts),
            wait=wait,
            retry=retry_if_result(lambda r: r.retryable),
            sleep=sleep,
            retry_error_callback=_last_result,
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


def _last_result(state: RetryCallState) -> AttemptResult:
    """The latest attempt's result: tenacity asks for a wait, or gives up, only after an attempt."""
    assert state.outcome is not None
    result: AttemptResult = state.outcome.result()
    return result


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
