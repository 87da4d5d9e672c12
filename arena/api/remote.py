"""Remote bots over REST: their keys (for contestants, with the API key), and signed calls for the bots
themselves (orders, portfolio, market snapshot), beside the gateway's WebSocket (docs/remote-bots.md).

Signed calls (``arena.api.remote_auth``) are refused 401 with the refusal's code, and rate-limited per contestant
with the API's sliding window (429 with ``Retry-After``; the ``RateLimit`` fields on every answer). An order is
judged as the same line over the WebSocket would be (``parse_bot_message``, its caps and codes) and then queued in
Redis for the bot's live gateway connection, on whichever API process holds it, so it joins that bot's tick
window, is stamped with its own tournament and account and counts against its flood guard and order-rate cap.
Its outcome comes as an ``order_update`` on the connection. Portfolio and market snapshots are read from the
tournament's bus.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from arena.api import errors, gateway, remote_auth
from arena.api.deps import Db, Me
from arena.api.errors import ApiError
from arena.api.paging import Page, Paging, by_id
from arena.runtime.bus import Bus, book_from_wire
from arena.runtime.protocol import MAX_LINE_BYTES, ProtocolViolation, parse_bot_message
from arena.store import remote_keys
from arena.store.models import RemoteKey
from sandbox import ProtocolError
from sandbox.channel import parse_line

router = APIRouter(prefix="/api/v1", tags=["remote bots"], responses=errors.responses(*errors.API_ERRORS, 404, 409))

Slug = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
BotName = Annotated[str, Path(min_length=1, max_length=31, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
SCAN = 2_000  # entries read back from a stream at most, for a snapshot


class RemoteKeyIn(BaseModel):
    name: str = Field("", max_length=64)


class RemoteKeyOut(BaseModel):
    key_id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    secret: str | None = Field(None, description="only in the answer that creates the key: keep it, it is not shown "
                                                 "again, and never send it: sign with it")


def _key_out(key: RemoteKey, secret: str | None = None) -> RemoteKeyOut:
    return RemoteKeyOut(key_id=key.key_id, name=key.name, created_at=key.created_at, revoked_at=key.revoked_at,
                        last_used_at=key.last_used_at, secret=secret)  # fmt: skip


@router.post("/remote-keys", status_code=201, response_model=RemoteKeyOut)
def new_key(request: Request, body: RemoteKeyIn, session: Db, me: Me) -> RemoteKeyOut:
    """A remote bot's key id and secret; the secret is in this answer only (409 TOO_MANY_REMOTE_KEYS past 10 live)."""
    key, secret = remote_keys.create_key(session, me, request.app.state.arena.remote_keyring.seal, body.name)
    return _key_out(key, secret)


@router.get("/remote-keys", response_model=Page[RemoteKeyOut])
def my_keys(session: Db, me: Me, paging: Paging) -> Page[RemoteKeyOut]:
    """Your remote bots' keys, revoked ones too, oldest first (never their secrets)."""
    query = select(RemoteKey).where(RemoteKey.contestant_id == me.id)
    keys, after = by_id(session, query, RemoteKey.id, paging, "remote-keys")
    return Page(items=[_key_out(k) for k in keys], next=after)


@router.delete("/remote-keys/{key_id}", response_model=RemoteKeyOut)
def revoke_key(key_id: str, session: Db, me: Me) -> RemoteKeyOut:
    """Revoke a key: signed requests with it are refused from now on (a connection already open goes on)."""
    return _key_out(remote_keys.revoke_key(session, me, key_id))


# -- signed calls of the bots themselves ---------------------------------------------------------------------


async def _signed(request: Request, slug: str, bot: str, body: bytes = b"") -> tuple[gateway.RemoteEntry, dict[
        str, str]]:  # fmt: skip
    """The caller's remote entry, once the request's signature and the rate limit pass; and the RateLimit fields."""
    state = request.app.state.arena
    try:
        caller = await remote_auth.verify(request, state, request.method, body)
    except remote_auth.Refused as exc:
        raise ApiError(401, exc.code, exc.message, {"WWW-Authenticate": remote_auth.SCHEME}) from None
    decision = await state.limiter.hit(f"remote:{caller.contestant_id}")
    if not decision.allowed:
        raise ApiError(429, "RATE_LIMITED", f"too many requests; retry in {decision.retry_after_s} s",
                       decision.headers())  # fmt: skip
    try:
        entry = await run_in_threadpool(gateway.remote_entry, state, slug, bot, caller.contestant_id)
    except gateway.Refusal as exc:
        status = {gateway.CLOSE_FORBIDDEN: 403, gateway.CLOSE_NOT_FOUND: 404}.get(exc.close, 409)
        raise ApiError(status, exc.code, exc.message, decision.headers()) from None
    return entry, decision.headers()


@router.post("/remote/{slug}/{bot}/orders", status_code=202, responses=errors.responses(403, 413))
async def place_order(request: Request, slug: Slug, bot: BotName) -> JSONResponse:
    """Send an order (or a cancel) as the bot's connection would: one protocol v1 ``order`` or ``cancel`` object,
    judged as that line would be (422 with the protocol's code). It joins the bot's current tick window on its
    live gateway connection, on whichever API process holds it (409 NOT_CONNECTED without one); its outcome is the
    ``order_update`` that connection receives."""
    body = await request.body()
    if len(body) > MAX_LINE_BYTES - 1:
        raise ApiError(413, "LINE_TOO_LONG", f"an order is one protocol line: at most {MAX_LINE_BYTES - 1} bytes")
    entry, headers = await _signed(request, slug, bot, body)
    try:
        message = parse_bot_message(parse_line(body))
    except (ProtocolError, ProtocolViolation) as exc:
        raise ApiError(422, exc.code, exc.message, headers) from None
    if message["type"] not in ("order", "cancel"):
        raise ApiError(422, "UNKNOWN_TYPE", "send an 'order' or a 'cancel' here; the rest of the protocol is the "
                                            "WebSocket's", headers)
    redis = request.app.state.arena.aredis
    if not await redis.exists(gateway.live_key(entry)):
        raise ApiError(409, "NOT_CONNECTED", f"bot {bot} has no live gateway connection: orders join its tick window "
                                             "there", headers)
    if await redis.llen(gateway.inbox_key(entry)) >= gateway.INBOX_MAX:
        raise ApiError(429, "RATE_LIMITED", f"{gateway.INBOX_MAX} orders are waiting for the bot's connection already",
                       {**headers, "Retry-After": "1"})  # fmt: skip
    pipe = redis.pipeline(transaction=False)
    pipe.rpush(gateway.inbox_key(entry), json.dumps(message, separators=(",", ":")))
    pipe.expire(gateway.inbox_key(entry), gateway.INBOX_TTL_S)  # what no connection reads goes away
    await pipe.execute()
    return JSONResponse({"accepted": True, "type": message["type"],
                         "client_order_id": message.get("client_order_id")}, status_code=202, headers=headers)


def _portfolio(redis: Any, entry: gateway.RemoteEntry) -> dict[str, Any]:
    bus = Bus(redis, entry.tournament)
    for _id, fields in _backwards(redis, bus.bot_key(entry.bot_key)):
        for message in reversed(json.loads(fields[b"m"])):
            if message.get("type") == "portfolio":
                return message
    config = bus.config() or {}
    balance = config.get("hello", {}).get("balance")
    return {"type": "portfolio", "ts": None, "cash": balance, "nav": balance, "positions": {}}


def _market(redis: Any, entry: gateway.RemoteEntry) -> dict[str, Any]:
    bus = Bus(redis, entry.tournament)
    wanted = set((bus.config() or {}).get("symbols", []))
    books: dict[str, Any] = {}
    n = ts = None
    for _id, fields in _backwards(redis, bus.market_key):
        if b"books" not in fields:
            continue  # the end
        if n is None:
            n, ts = int(fields[b"n"]), int(fields[b"ts"])
        for raw in json.loads(fields[b"books"]):
            book = book_from_wire(raw)
            books.setdefault(book.symbol, {"symbol": book.symbol, "ts": book.ts, "bids": [list(b) for b in book.bids],
                                           "asks": [list(a) for a in book.asks], "last": book.last,
                                           "halted": book.halted})  # fmt: skip
        if wanted and wanted <= set(books):
            break
    return {"tick": n, "ts": ts, "books": [books[s] for s in sorted(books)]}


def _backwards(redis: Any, key: str) -> Any:
    """A stream's entries, newest first, at most SCAN of them."""
    end, read = "+", 0
    while read < SCAN:
        page = redis.xrevrange(key, max=end, count=200)
        if not page:
            return
        yield from page
        read += len(page)
        last = page[-1][0].decode()
        ms, seq = (int(x) for x in last.split("-"))
        if ms == 0 and seq == 0:
            return
        end = f"{ms}-{seq - 1}" if seq else f"{ms - 1}-18446744073709551615"


@router.get("/remote/{slug}/{bot}/portfolio", responses=errors.responses(403))
async def portfolio(request: Request, slug: Slug, bot: BotName) -> JSONResponse:
    """The bot's latest ``portfolio`` message (cash, NAV, positions); before its first trade, the starting balance."""
    entry, headers = await _signed(request, slug, bot)
    answer = await run_in_threadpool(_portfolio, request.app.state.arena.redis, entry)
    return JSONResponse(answer, headers=headers)


@router.get("/remote/{slug}/{bot}/market", responses=errors.responses(403))
async def market(request: Request, slug: Slug, bot: BotName) -> JSONResponse:
    """The tournament's latest book of each symbol (full depth as published), with the last tick's number and time."""
    entry, headers = await _signed(request, slug, bot)
    answer = await run_in_threadpool(_market, request.app.state.arena.redis, entry)
    return JSONResponse(answer, headers=headers)

