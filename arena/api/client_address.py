"""Where a request comes from: the peer's address, or behind a trusted reverse proxy, the client it names.

X-Forwarded-For is honoured only from a configured trusted proxy (``ARENA_TRUSTED_PROXIES``): from anyone else
the header is ignored, since a client could write any address there and get a fresh budget per request.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.requests import HTTPConnection


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
