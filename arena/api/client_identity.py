"""Who a request counts as for the rate limit: its verified contestant, else its client address.

A bucket keyed on a header the client picks (an unchecked API key) lets a client make a fresh bucket per
request, so keys and session cookies are verified first; an invalid one is refused and counted against the
address. X-Forwarded-For is honoured only from a configured trusted proxy.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

from fastapi.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from arena.api import signin
from arena.store import accounts


@lru_cache(maxsize=16)
def _networks(trusted: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted)


def _trusted(host: str, trusted: tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in _networks(trusted))


def client_address(conn: HTTPConnection, trusted_proxies: list[str]) -> str:
    """The client's address: the peer's, or when the peer is a trusted proxy, the nearest untrusted hop in
    X-Forwarded-For (the entries left of it could be anything the client wrote)."""
    peer = conn.client.host if conn.client else "unknown"
    trusted = tuple(trusted_proxies)
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in conn.headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop[:64]
    return hops[0][:64] if hops else peer


def address_key(conn: HTTPConnection, trusted_proxies: list[str]) -> str:
    return "ip:" + client_address(conn, trusted_proxies)


def _verified(state: Any, api_key: str | None, cookie: str | None) -> int | None:
    """The contestant id the credentials stand for, or None. Read-only: nothing here is committed."""
    with state.sessions() as session:
        if api_key:
            key = accounts.authenticate(session, api_key)
            return key.contestant_id if key is not None else None
        found = signin.session_contestant(state.redis, session, cookie or "")
        return found[0].id if found is not None else None


async def rate_key(conn: HTTPConnection, state: Any) -> tuple[str, bool]:
    """(bucket key, whether the request carried an API key that failed verification). A stale session cookie
    only counts against the address: public pages still answer, and private routes say SESSION_EXPIRED."""
    api_key = conn.headers.get("x-api-key")
    cookie = None if api_key else conn.cookies.get(signin.COOKIE)
    if not api_key and not cookie:
        return address_key(conn, state.settings.trusted_proxies), False
    who = await run_in_threadpool(_verified, state, api_key, cookie)
    if who is None:
        return address_key(conn, state.settings.trusted_proxies), bool(api_key)
    return f"contestant:{who}", False
