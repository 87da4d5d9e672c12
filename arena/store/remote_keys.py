"""Remote bots' credentials: a key id and a secret per key, for HMAC-signed requests (arena.api.remote_auth).

The secret is shown once, at creation. The service must hold it to check signatures, so it is kept sealed under
the operator's secret keys (the same keyring as webhook secrets), never hashed and never in plain text.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from arena.store.accounts import LAST_USED_GRANULARITY
from arena.store.errors import Conflict, NotFound
from arena.store.models import Contestant, RemoteKey
from arena.store.types import utcnow

KEY_ID = re.compile(r"rk_[0-9a-f]{24}")
MAX_LIVE_KEYS = 10  # per contestant: revoke one to make another


def create_key(session: Session, contestant: Contestant, seal: Callable[[str], str], name: str = "") -> tuple[
        RemoteKey, str]:  # fmt: skip
    """A new key for ``contestant``: (the row, its secret in plain text, to be shown once)."""
    live = session.scalar(select(func.count(RemoteKey.id)).where(
        RemoteKey.contestant_id == contestant.id, RemoteKey.revoked_at.is_(None))) or 0  # fmt: skip
    if live >= MAX_LIVE_KEYS:
        raise Conflict(f"you have {live} live remote keys, the most there may be; revoke one first",
                       "TOO_MANY_REMOTE_KEYS")  # fmt: skip
    secret = "rs_" + secrets.token_urlsafe(32)
    key = RemoteKey(contestant_id=contestant.id, key_id="rk_" + secrets.token_hex(12), sealed_secret=seal(secret),
                    name=name)  # fmt: skip
    session.add(key)
    session.flush()
    return key, secret


def live_key(session: Session, key_id: str) -> RemoteKey | None:
    """The key ``key_id`` if it exists and is not revoked."""
    if not KEY_ID.fullmatch(key_id):
        return None
    key = session.scalar(select(RemoteKey).where(RemoteKey.key_id == key_id))
    return key if key is not None and key.revoked_at is None else None


def mark_used(session: Session, key: RemoteKey, now: datetime | None = None) -> None:
    now = now or utcnow()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_GRANULARITY:
        key.last_used_at = now


def revoke_key(session: Session, contestant: Contestant, key_id: str) -> RemoteKey:
    key = session.scalar(select(RemoteKey).where(RemoteKey.key_id == key_id,
                                                 RemoteKey.contestant_id == contestant.id))  # fmt: skip
    if key is None:
        raise NotFound(f"no remote key {key_id!r:.40}", "UNKNOWN_REMOTE_KEY")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key
