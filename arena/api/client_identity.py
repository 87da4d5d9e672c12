"""Who a request counts as for the rate limit: its verified contestant, else its client address.

A bucket keyed on a header the client picks (an unchecked API key) lets a client make a fresh bucket per
request, so keys and session cookies are verified first; an invalid one is refused and counted against the
address (``client_address``: X-Forwarded-For only from a trusted proxy).
"""

from __future__ import annotations

from typing import Any

from fastapi.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from arena.api import signin
from arena.api.client_address import address_key
from arena.store import accounts


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
