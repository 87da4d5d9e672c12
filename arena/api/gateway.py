"""The bot gateway: remote bots connect here over a WebSocket and speak bot protocol v1 (docs/remote-bots.md).

``GET /api/v1/gateway/{tournament}/{bot}`` upgraded to a WebSocket, signed as any remote bot's request
(``arena.api.remote_auth``: key id, timestamp, nonce, HMAC signature; no secret on the wire). The key's
contestant must have entered ``bot`` as a remote bot in ``tournament``, whose rules must let remote bots in
(``rules.practice`` / ``rules.remote_bots``), and the tournament must be running. Then the gateway runs that
bot's ``Supervisor`` (the sandboxed bots' own, arena.runtime.supervisor) over the connection, in threads of this
process: the bot gets the same messages as a sandboxed bot, its lines are judged by the same code, its orders
are stamped with its own tournament and account, and it joins the bus as any bot does. REST orders for the bot
(``arena.api.remote``) reach it through a Redis list (``Inbox``), handed over before any ``done`` it sends after
their ``202``. One connection per entry at a time (its
live mark in Redis is the claim); a bot whose connection drops may come back within the engine's grace and resumes
at the latest tick (``arena.runtime.remote.CatchUp``); after it, it is out (docs/remote-bots.md).

A refusal is an ``error`` message with its code, then a close: 4401 (authentication), 4403 (the tournament takes
no remote bots), 4404 (no such tournament or remote entry), 4409 (not running, the bot out already (a no-show,
disqualified), or already connected), 1013 (the handshake rate limit, as the spectators' WebSocket).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import secrets
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis
from fastapi import APIRouter, WebSocket
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from arena.api import client_address, remote_auth
from arena.engine.rules import resolve_ruleset
from arena.runtime.bus import Bus
from arena.runtime.connection import connect
from arena.runtime.remote import (
    CLOSE_CONFLICT,
    CLOSE_FORBIDDEN,
    CLOSE_NOT_FOUND,
    CLOSE_TOO_BIG,
    CLOSE_UNAUTHENTICATED,
    DROPPED,
    LIVE_TTL_S,
    MAX_MESSAGE_BYTES,
    WINDOW,
    RemoteBot,
    RemoteSandbox,
)
from arena.runtime.remote import live_key as remote_live_key
from arena.runtime.supervisor import HostFault, supervise
from arena.store import tournaments as tournament_repo
from arena.store.errors import NotFound
from arena.store.models import Bot, Entry, TournamentStatus
from sandbox import Limits, ProtocolError, Status

if TYPE_CHECKING:
    from arena.api.app import ArenaState  # which includes this module's router

router = APIRouter(prefix="/api/v1", tags=["remote bots"])
INBOX_MAX = 1_000  # REST orders waiting for a connection's supervisor to read them
INBOX_TTL_S = 60  # what no connection reads goes away
# The live mark is renewed only by the connection that holds it (its id in the mark).
RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end return 0"
RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class Refusal(Exception):
    def __init__(self, close: int, code: str, message: str) -> None:
        super().__init__(message)
        self.close, self.code, self.message = close, code, message


@dataclass(frozen=True)
class RemoteEntry:
    tournament: str  # slug: the runtime's tournament id
    bot_key: str  # the runtime's bot id and account


def remote_entry(state: ArenaState, slug: str, bot: str, contestant_id: int) -> RemoteEntry:
    """The caller's remote entry of ``bot`` in running tournament ``slug``; raises Refusal saying why not."""
    with state.sessions() as session:
        try:
            tournament = tournament_repo.get_tournament(session, slug)
        except NotFound:
            raise Refusal(CLOSE_NOT_FOUND, "UNKNOWN_TOURNAMENT", f"no tournament {slug!r:.80}") from None
        if not resolve_ruleset(tournament.rules).remote_allowed:
            raise Refusal(CLOSE_FORBIDDEN, "REMOTE_NOT_ALLOWED", f"tournament {slug} takes sandboxed bots only (a "
                                                                 "ranked tournament is sandbox-only)")
        entry = session.scalar(select(Entry).join(Bot, Entry.bot_id == Bot.id).where(
            Entry.tournament_id == tournament.id, Entry.contestant_id == contestant_id, Bot.name == bot,
            Entry.remote.is_(True)))  # fmt: skip
        if entry is None:
            raise Refusal(CLOSE_NOT_FOUND, "NOT_ENTERED", f"you have no remote entry of bot {bot!r:.80} in "
                                                          f"tournament {slug}")
        if tournament.status is not TournamentStatus.RUNNING:
            raise Refusal(CLOSE_CONFLICT, "TOURNAMENT_NOT_RUNNING",
                          f"tournament {slug} is {tournament.status.value}; connect once it is running")
        return RemoteEntry(tournament.slug, entry.bot_key)


def live_key(entry: RemoteEntry) -> str:
    """The entry's claim, set while its connection is open (``arena.runtime.remote.live_key``)."""
    return remote_live_key(entry.tournament, entry.bot_key)


def inbox_key(entry: RemoteEntry) -> str:
    """Lines for the entry's connection from REST calls, which any API process may answer (a list in Redis)."""
    return remote_live_key(entry.tournament, entry.bot_key).removesuffix(":live") + ":inbox"


def staging_key(entry: RemoteEntry) -> str:
    """REST lines taken from the inbox and not yet handed to the supervisor: what a dead process leaves here, the
    entry's next connection hands over first."""
    return inbox_key(entry).removesuffix(":inbox") + ":staging"


class Inbox:
    """What REST calls queued for one connection, handed to its supervisor in the order they were accepted.

    A REST order's ``202`` comes once it is in the Redis list, so every order accepted before the bot's ``done`` for
    a tick is in the list (or staged) when that ``done`` arrives: ``hand_over`` before the ``done`` reaches the
    supervisor puts them ahead of it, into the tick they were sent for. One lock serialises this with the relaying
    thread. Each line moves atomically (LMOVE) to a staging list and leaves it only once handed over, so a process
    dying between the two loses nothing: the entry's next connection hands the staged lines over first."""

    def __init__(self, redis_url: str, entry: RemoteEntry, remote: RemoteBot, connection: str) -> None:
        self._client = connect(redis_url)
        self._entry, self._remote, self._connection = entry, remote, connection
        self._lock = threading.Lock()

    def hand_over(self) -> None:
        """Everything staged, then everything queued, to the supervisor (oldest first)."""
        inbox, staging = inbox_key(self._entry), staging_key(self._entry)
        with self._lock:  # the only place lines move: staging holds at most the one being handed over
            while not self._remote.done:
                line = self._client.lindex(staging, 0)  # staged lines left the inbox first: they go first
                if line is None:
                    if (line := self._client.lmove(inbox, staging, "LEFT", "RIGHT")) is None:
                        return
                    self._client.expire(staging, INBOX_TTL_S)
                self._remote.feed(line if isinstance(line, bytes) else line.encode(), counted=False)
                self._client.lpop(staging)

    def relay(self) -> None:
        """While the connection is open: keep its live mark and hand its supervisor what REST calls queue for it."""
        client, entry = self._client, self._entry
        try:
            self.hand_over()  # what a connection before this one staged and never handed over
            while not self._remote.done:
                if not client.eval(RENEW, 1, live_key(entry), self._connection, LIVE_TTL_S):
                    # Lost (Redis was away longer than the mark lives): this connection ends as a drop, so the
                    # bot may come back within the grace rather than be out.
                    self._remote.description["connection"] = DROPPED
                    self._remote.end(Status.EXITED, "the connection lost its live mark", CLOSE_CONFLICT)
                    return
                # Wait for a line without taking it (moved from the inbox's head back to its head): lines move only
                # under the lock, in hand_over. (Moving it to staging here raced hand_over's own move from the
                # inbox: its pop from staging could take this line unhanded, and it was lost.)
                if client.blmove(inbox_key(entry), inbox_key(entry), 1, "LEFT", "LEFT") is not None:
                    self.hand_over()
        except redis.RedisError:
            pass  # Redis gone: the supervisor finds out too; REST orders wait for a live mark again
        finally:
            with contextlib.suppress(redis.RedisError):
                client.eval(RELEASE, 1, live_key(entry), self._connection)
            client.close()


async def _refuse(socket: WebSocket, close: int, code: str, message: str) -> None:
    with contextlib.suppress(Exception):  # the client may be gone already
        await socket.send_text(json.dumps({"type": "error", "code": code, "message": message}) + "\n")
        await socket.close(code=close, reason=code)


@router.websocket("/gateway/{tournament}/{bot}")
async def gateway(socket: WebSocket, tournament: str, bot: str) -> None:
    """A remote bot's connection: signed handshake, then protocol v1 for the whole run."""
    state: ArenaState = socket.app.state.arena
    await socket.accept()  # first, so that a refusal reaches the client with its code
    decision = await state.limiter.hit(client_address.address_key(socket, state.settings.trusted_proxies))
    if not decision.allowed:
        await _refuse(socket, 1013, "RATE_LIMITED", f"too many requests; retry in {decision.retry_after_s} s")
        return
    try:
        caller = await remote_auth.verify(socket, state, "GET")
        entry = await run_in_threadpool(remote_entry, state, tournament, bot, caller.contestant_id)
        raw = await state.aredis.hget(Bus(state.redis, entry.tournament).status_key, entry.bot_key)
        status = raw.decode() if isinstance(raw, bytes) else raw
        if status is not None and status not in ("starting", "running"):  # the engine has it out already
            raise Refusal(CLOSE_CONFLICT, "ENTRY_OUT", f"bot {bot} is out of tournament {tournament} "
                                                       f"({status}): its orders would count for nothing")
        connection = secrets.token_hex(8)
        if not await state.aredis.set(live_key(entry), connection, nx=True, ex=LIVE_TTL_S):
            raise Refusal(CLOSE_CONFLICT, "ALREADY_CONNECTED", f"bot {bot} is connected to tournament {tournament} "
                                                               "already (one connection at a time; a dropped one "
                                                               f"lets go within {LIVE_TTL_S} s)")
    except remote_auth.Refused as exc:
        await _refuse(socket, CLOSE_UNAUTHENTICATED, exc.code, exc.message)
        return
    except Refusal as exc:
        await _refuse(socket, exc.close, exc.code, exc.message)
        return
    # A bot the engine has running already is coming back: its new supervisor resumes at the latest tick.
    resume_at = await _latest_tick(state, entry) if status == "running" else 0
    await _relay(socket, state, entry, connection, resume_at)


async def _latest_tick(state: ArenaState, entry: RemoteEntry) -> int:
    latest: list[Any] = await state.aredis.xrevrange(Bus(state.redis, entry.tournament).market_key, count=5) or []
    for _id, fields in latest:
        if b"n" in fields:
            return int(fields[b"n"])
    return 0


async def _relay(socket: WebSocket, state: ArenaState, entry: RemoteEntry, connection: str, resume_at: int) -> None:
    """Run the entry's supervisor over the connection until either ends."""
    loop = asyncio.get_running_loop()
    credits = asyncio.Semaphore(WINDOW)  # messages received and not yet read by the supervisor
    ended = asyncio.Event()
    sending = threading.Lock()  # one frame at a time, whichever supervisor thread sends it

    def write(data: bytes, timeout: float) -> None:
        with sending:
            future = asyncio.run_coroutine_threadsafe(socket.send_text(data.decode()), loop)
            try:
                future.result(timeout)
            except concurrent.futures.TimeoutError:
                future.cancel()
                raise ProtocolError(ProtocolError.TIMEOUT, f"the remote bot did not read within {timeout} s") from None
            except Exception as exc:
                raise ProtocolError(ProtocolError.CLOSED, f"the remote bot's connection is closed ({exc})") from None

    async def close(code: int, reason: str) -> None:
        ended.set()
        credits.release()  # wakes the receiving loop if it waits for room
        with contextlib.suppress(Exception):
            await socket.close(code=code, reason=reason[:120])

    remote = RemoteBot(write, lambda code, reason: asyncio.run_coroutine_threadsafe(close(code, reason), loop),
                       lambda: loop.call_soon_threadsafe(credits.release), resume_at)  # fmt: skip
    peer = f"{socket.client.host}:{socket.client.port}" if socket.client else ""
    redis_url = state.settings.redis

    def run() -> None:
        client = connect(redis_url)  # rides out a Redis restart, as a bot host's supervisors do
        try:
            supervise(client, entry.tournament, entry.bot_key, "remote", Limits(), sandbox=RemoteSandbox(remote, peer))
        except HostFault:
            pass  # reported to the engine already: the bot is out, by the host's fault
        finally:
            client.close()
            remote.end(Status.EXITED, "its supervisor ended", CLOSE_CONFLICT)

    supervisor = threading.Thread(target=run, name=f"remote-{entry.bot_key}", daemon=True)
    supervisor.start()
    inbox = Inbox(redis_url, entry, remote, connection)
    relaying = threading.Thread(target=inbox.relay, name=f"inbox-{entry.bot_key}", daemon=True)
    relaying.start()
    code: int | None = None
    try:
        while not ended.is_set() and not remote.done:
            await credits.acquire()
            if ended.is_set() or remote.done:
                break
            message = await socket.receive()
            if message["type"] == "websocket.disconnect":
                code = message.get("code")
                break
            data = message.get("bytes") or (message.get("text") or "").encode()
            if len(data) > MAX_MESSAGE_BYTES:
                remote.end(Status.KILLED, f"a message over {MAX_MESSAGE_BYTES} bytes", CLOSE_TOO_BIG)
                break
            if b"done" in data:  # REST orders accepted before this done join its tick: handed over first
                with contextlib.suppress(redis.RedisError):  # Redis gone: the supervisor finds out too
                    await loop.run_in_executor(None, inbox.hand_over)
            remote.feed(data)
    finally:
        remote.disconnected(code)
        await loop.run_in_executor(None, supervisor.join)
        await loop.run_in_executor(None, relaying.join)
