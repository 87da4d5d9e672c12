"""Browser sessions: sign in with a name and password (admins) or an API key (anyone), get an HttpOnly cookie.

The session lives in Redis under the SHA-256 of its token, so a leaked Redis dump holds no usable cookie;
it expires after ``SESSION_TTL_S`` and dies with the API key it was opened with. The cookie is
SameSite=Strict, and writes authenticated by it must carry ``X-Requested-With`` (a header a cross-site form
cannot send), so a session cannot be ridden from another site.

A password sign-in costs a scrypt (~50 ms of a core), an unknown name too (so the answer's timing names no
one), so guessing is bounded three ways before any hash is computed: per name and address, per address, and
over all clients (``ARENA_SIGNIN_PER_ADDRESS``, ``ARENA_SIGNIN_PER_MINUTE``). A sign-in over any budget is
refused without a hash and counted in none, so spraying names from many addresses costs the service at most the
global budget's CPU. An API key costs one SHA-256 and has a budget of its own per address.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated

import redis
from fastapi import APIRouter, Cookie, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, model_validator
from sqlalchemy.orm import Session

from arena.api import errors
from arena.api.client_address import client_address
from arena.api.errors import ApiError
from arena.api.ratelimit import Bucket
from arena.metrics import HTTP_RATE_LIMITED
from arena.settings import Settings
from arena.store import accounts
from arena.store.models import ApiKey, Contestant

COOKIE = "arena_session"
SESSION_TTL_S = 12 * 3600
CSRF_HEADER = "x-requested-with"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_ATTEMPTS = 10  # per name and client, per LOGIN_WINDOW_S: scrypt is slow, but guessing must be slower
LOGIN_WINDOW_S = 15 * 60
GLOBAL_WINDOW_S = 60.0  # ARENA_SIGNIN_PER_MINUTE's window

router = APIRouter(prefix="/api/v1", tags=["session"], responses=errors.responses(*errors.API_ERRORS))


class Credentials(BaseModel):
    """Either an API key, or a name and password."""

    api_key: str | None = Field(None, min_length=1, max_length=200)
    name: str | None = Field(None, min_length=1, max_length=64)
    password: str | None = Field(None, min_length=1, max_length=1024)

    @model_validator(mode="after")
    def _one_way(self) -> Credentials:
        if (self.api_key is None) == (self.name is None and self.password is None):
            raise ValueError("send either api_key, or name and password")
        if self.api_key is None and (self.name is None or self.password is None):
            raise ValueError("send both name and password")
        return self


class Who(BaseModel):
    id: int
    name: str
    is_admin: bool


class SessionOut(BaseModel):
    contestant: Who | None
    expires_at: datetime | None = None


def _key(token: str) -> str:
    return f"arena:session:{hashlib.sha256(token.encode()).hexdigest()}"


def open_session(client: redis.Redis, who: Contestant, key: ApiKey | None) -> tuple[str, datetime]:
    token = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(seconds=SESSION_TTL_S)
    record = {"contestant": who.id, "key": key.id if key else None, "expires_at": expires.isoformat()}
    client.set(_key(token), json.dumps(record), ex=SESSION_TTL_S)
    return token, expires


def session_contestant(client: redis.Redis, session: Session, token: str) -> tuple[Contestant, datetime] | None:
    """The contestant a session token stands for, or None (unknown, expired, or its API key revoked)."""
    if not token or len(token) > 100:
        return None
    raw = client.get(_key(token))
    if raw is None:
        return None
    record = json.loads(raw)
    who = session.get(Contestant, int(record["contestant"]))
    if who is None:
        return None
    if record.get("key") is not None:
        key = session.get(ApiKey, int(record["key"]))
        if key is None or key.revoked_at is not None:
            client.delete(_key(token))
            return None
    return who, datetime.fromisoformat(record["expires_at"])


def _verify(request: Request, body: Credentials) -> tuple[Contestant, ApiKey | None] | None:
    sessions = request.app.state.arena.sessions
    if body.api_key is not None:
        with sessions.begin() as session:
            key = accounts.authenticate(session, body.api_key)
            return (key.contestant, key) if key else None
    with sessions() as session:  # closed before the hash: a scrypt holds no connection and no SQLite lock
        who = accounts.contestant_by_name(session, body.name or "")
    matches = accounts.password_matches(who, body.password or "")  # one scrypt, whether or not the name exists
    return (who, None) if matches and who is not None else None


def _budgets(settings: Settings, address: str, body: Credentials) -> dict[str, Bucket]:
    """The budgets a sign-in must fit, by scope: an API key's, per address; a password's, per name and address,
    per address, and over all clients."""
    if body.api_key is not None:
        return {"address": Bucket(f"signin:key:{address}", LOGIN_ATTEMPTS, LOGIN_WINDOW_S)}
    # Hashed: names and addresses may hold any character, and no pair may share another's bucket.
    pair = hashlib.sha256(f"{address}\0{body.name}".encode()).hexdigest()
    return {"name": Bucket(f"signin:name:{pair}", LOGIN_ATTEMPTS, LOGIN_WINDOW_S),
            "address": Bucket(f"signin:address:{address}", settings.signin_per_address, LOGIN_WINDOW_S),
            "all": Bucket("signin:all", settings.signin_per_minute, GLOBAL_WINDOW_S)}  # fmt: skip


@router.post("/session", response_model=SessionOut)
async def sign_in(request: Request, response: Response, body: Credentials) -> SessionOut:
    """Sign in; the answer sets the session cookie. Wrong credentials: 401 INVALID_CREDENTIALS; over a budget:
    429 TOO_MANY_SIGN_INS (``scope``: name or address), or 503 SIGNIN_BUDGET (all clients'), with Retry-After."""
    state = request.app.state.arena
    budgets = _budgets(state.settings, client_address(request, state.settings.trusted_proxies), body)
    decision = await state.sign_ins.hit(list(budgets.values()))
    if not decision.allowed:
        HTTP_RATE_LIMITED.inc()
        retry = {"Retry-After": str(decision.retry_after_s)}
        scope = next(scope for scope, bucket in budgets.items() if bucket is decision.refused_by)
        if scope == "all":
            raise ApiError(503, "SIGNIN_BUDGET", "the service is checking as many passwords as it can; retry in "
                           f"{decision.retry_after_s} s (an API key signs in without this budget)", retry)  # fmt: skip
        raise ApiError(429, "TOO_MANY_SIGN_INS", f"too many sign-in attempts; retry in {decision.retry_after_s} s",
                       retry, scope=scope)  # fmt: skip
    found = await run_in_threadpool(_verify, request, body)
    if found is None:
        raise ApiError(401, "INVALID_CREDENTIALS", "those credentials are not valid")
    who, key = found
    token, expires = await run_in_threadpool(open_session, state.redis, who, key)  # a blocking Redis client
    response.set_cookie(COOKIE, token, max_age=SESSION_TTL_S, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")  # fmt: skip
    return SessionOut(contestant=Who(id=who.id, name=who.name, is_admin=who.is_admin), expires_at=expires)


@router.get("/session", response_model=SessionOut)
def current(request: Request, arena_session: Annotated[str | None, Cookie()] = None) -> SessionOut:
    """Who this browser is signed in as; ``contestant`` is null when signed out (not an error: pages ask)."""
    if not arena_session:
        return SessionOut(contestant=None)
    with request.app.state.arena.sessions.begin() as session:
        found = session_contestant(request.app.state.arena.redis, session, arena_session)
        if found is None:
            return SessionOut(contestant=None)
        who, expires = found
        return SessionOut(contestant=Who(id=who.id, name=who.name, is_admin=who.is_admin), expires_at=expires)


@router.delete("/session", status_code=204, response_class=Response)
def sign_out(request: Request, arena_session: Annotated[str | None, Cookie()] = None) -> Response:
    if arena_session and len(arena_session) <= 100:
        request.app.state.arena.redis.delete(_key(arena_session))
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response
