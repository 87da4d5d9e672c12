"""Contestants, admin passwords and API keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.store.errors import Conflict, InvalidValue, NotFound, integrity
from arena.store.models import ApiKey, Contestant
from arena.store.types import utcnow

# Names appear in bot keys ("<contestant>:<bot>") and URLs: no ':' or '/', at most 31 characters.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,30}")
KEY_SCHEME = "arena"
# last_used_at is written at most this often per key: a write per request would serialise SQLite.
LAST_USED_GRANULARITY = timedelta(minutes=1)


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidValue(
            f"{kind} name must be 1-31 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit "
            f"(got {name!r:.80})",
            "INVALID_NAME",
        )
    return name


# -- contestants --------------------------------------------------------------------------


def create_contestant(session: Session, name: str, email: str | None = None, is_admin: bool = False) -> Contestant:
    contestant = Contestant(name=check_name("contestant", name), email=email, is_admin=is_admin)
    taken = Conflict(f"the name {name!r} is taken", "CONTESTANT_NAME_TAKEN")
    with integrity(session, {"uq_contestants_name": taken}):
        session.add(contestant)
    return contestant


def get_contestant(session: Session, contestant_id: int) -> Contestant:
    contestant = session.get(Contestant, contestant_id)
    if contestant is None:
        raise NotFound(f"no contestant {contestant_id}")
    return contestant


def contestant_by_name(session: Session, name: str) -> Contestant | None:
    return session.scalar(select(Contestant).where(Contestant.name == name))


def list_contestants(session: Session) -> list[Contestant]:
    return list(session.scalars(select(Contestant).order_by(Contestant.id)))


# -- passwords (dashboard logins) -----------------------------------------------------------

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~50 ms, 16 MiB: OWASP's minimum for scrypt


def set_password(contestant: Contestant, password: str) -> None:
    if len(password) < 8:
        raise InvalidValue("a password needs at least 8 characters", "WEAK_PASSWORD")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    contestant.password_hash = "scrypt${n}${r}${p}${salt}${digest}".format(
        **_SCRYPT, salt=_b64(salt), digest=_b64(digest)
    )


def check_password(contestant: Contestant, password: str) -> bool:
    stored = contestant.password_hash
    if not stored:
        return False
    scheme, n, r, p, salt, digest = stored.split("$")
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(candidate, _unb64(digest))


_UNKNOWN = Contestant(name="", password_hash="")  # stands in for a name that does not exist


def password_matches(who: Contestant | None, password: str) -> bool:
    """Whether ``who`` (None: a name nobody has) signs in with ``password``. An unknown name, or one without a
    password, costs one scrypt too, so the answer's timing does not say which names exist. No database work:
    a caller holding a transaction through this would hold its lock or connection for the hash's ~50 ms."""
    if who is None or not who.password_hash:
        if not _UNKNOWN.password_hash:
            set_password(_UNKNOWN, secrets.token_urlsafe(16))
        check_password(_UNKNOWN, password)
        return False
    return check_password(who, password)


# -- API keys -----------------------------------------------------------------------------


def hash_key(key: str) -> str:
    """SHA-256 of the whole key. A plain fast hash is right here: keys carry 256 random bits, so there is
    nothing to brute-force, and authentication stays one hash per request (unlike a password KDF)."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, contestant: Contestant, name: str = "") -> tuple[ApiKey, str]:
    """A new key for ``contestant``: the record and the key itself, which is never stored — show it once."""
    prefix = secrets.token_hex(6)
    key = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    record = ApiKey(contestant_id=contestant.id, name=name[:64], prefix=prefix, hash=hash_key(key))
    with integrity(session, {"uq_api_keys_prefix": Conflict("key prefix collision; try again", "KEY_COLLISION")}):
        session.add(record)
    return record, key


def authenticate(session: Session, key: str, now: datetime | None = None) -> ApiKey | None:
    """The live key matching ``key`` (its ``contestant`` is the caller), or None. Looked up by prefix,
    compared in constant time; a revoked key never matches."""
    parts = key.split("_", 2) if isinstance(key, str) else []
    if len(parts) != 3 or parts[0] != KEY_SCHEME:
        return None
    record = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    # Compare even when there is no record, so timing does not tell a known prefix from an unknown one.
    expected = record.hash if record is not None else "0" * 64
    if not hmac.compare_digest(expected, hash_key(key)) or record is None or record.revoked_at is not None:
        return None
    now = now or utcnow()
    if record.last_used_at is None or now - record.last_used_at >= LAST_USED_GRANULARITY:
        record.last_used_at = now
    return record


def api_keys_of(session: Session, contestant: Contestant) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.contestant_id == contestant.id).order_by(ApiKey.id)))


def revoke_api_key(session: Session, contestant: Contestant, key_id: int, now: datetime | None = None) -> ApiKey:
    """Revoke one of ``contestant``'s keys (revoking twice keeps the first time)."""
    record = session.get(ApiKey, key_id)
    if record is None or record.contestant_id != contestant.id:
        raise NotFound(f"no API key {key_id}")
    if record.revoked_at is None:
        record.revoked_at = now or utcnow()
    return record


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)
