"""Spectators: public, read-only leaderboard views and live streams (SSE and WebSocket)."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from arena.api import client_address, errors
from arena.api.errors import RETRY_AFTER_S, ApiError, error_body
from arena.api.paging import Page, Paging
from arena.api.public_tournaments import require_public
from arena.api.results import BotLabel
from arena.engine.ranking import competition_ranks
from arena.metrics import SSE_CLIENTS, WEBSOCKET_CLIENTS
from arena.runtime.leaderboard import Change, Leaderboard, validate_tournament_id
from arena.service.hub import HubFull, TooSlow

router = APIRouter(prefix="/api/v1/tournaments", tags=["spectators"],
                   responses=errors.responses(*errors.API_ERRORS, 404))

TournamentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
BotId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class StandingOut(BotLabel):
    rank: int
    score: float

    @classmethod
    def of(cls, rank: int, bot: str, score: float) -> StandingOut:
        return cls(rank=rank, score=score, **BotLabel.fields_of(bot))


class LeaderboardOut(Page[StandingOut]):
    """A page of the leaderboard, best first (equal scores: bot key descending, as the stream's board)."""

    tournament: str
    final: bool
    delayed_s: float
    total: int = Field(description="bots on the board")


class BotRankOut(BaseModel):
    tournament: str
    bot: str
    rank: int
    score: float
    around: list[StandingOut]


def _ranked(scores: dict[str, float]) -> list[StandingOut]:
    return [StandingOut.of(r.rank, r.bot, r.score) for r in competition_ranks(scores)]


async def _view(request: Request, tournament: str) -> tuple[list[StandingOut] | None, Leaderboard, bool]:
    """The standings spectators may see: final when frozen; live, or as of the delay, while running."""
    validate_tournament_id(tournament)
    state = request.app.state.arena
    board = Leaderboard(state.redis, tournament)  # a blocking client: its calls run in the thread pool, off the loop
    frozen = await run_in_threadpool(board.is_frozen)
    if frozen or state.settings.spectator_delay_s <= 0:
        return None, board, frozen
    await require_public(state, tournament)  # a delayed board is kept in memory: only for real tournaments
    return _ranked(await state.hub.delayed_board(tournament) or {}), board, False


@router.get("/{tournament}/leaderboard", response_model=LeaderboardOut)
async def leaderboard(request: Request, tournament: TournamentId, paging: Paging) -> LeaderboardOut:
    """The standings, a page at a time. While it runs, scores move between pages: a bot may be seen twice or
    not at all; a final (frozen) board pages exactly."""
    after = paging.after("leaderboard", (float, str))
    ranked, board, frozen = await _view(request, tournament)
    state = request.app.state.arena
    n = paging.limit + 1  # one more than shown: whether a next page follows
    if ranked is None:

        def read() -> tuple[list[StandingOut], int]:
            rows = board.top(n, final=frozen) if after is None else board.after(after[0], after[1], n, final=frozen)
            return [StandingOut.of(s.rank, s.bot, s.score) for s in rows], board.size(final=frozen)

        rows, total = await run_in_threadpool(read)
        delay = 0.0
    else:
        rest = ranked if after is None else [s for s in ranked if (s.score, s.bot.encode()) < _key(after)]
        rows, total, delay = rest[:n], len(ranked), state.settings.spectator_delay_s
    if total == 0:
        raise ApiError(404, "NO_LEADERBOARD", f"tournament {tournament!r} has no leaderboard yet")
    items, cursor = paging.page("leaderboard", rows, lambda s: (s.score, s.bot))
    return LeaderboardOut(tournament=tournament, final=frozen, delayed_s=delay, total=total, items=items,
                          next=cursor)  # fmt: skip


def _key(after: tuple[float, str]) -> tuple[float, bytes]:
    """A cursor's position in the board's order (score, then member bytes; both descending)."""
    return after[0], after[1].encode()


@router.get("/{tournament}/leaderboard/bots/{bot}", response_model=BotRankOut)
async def bot_rank(
    request: Request, tournament: TournamentId, bot: BotId, k: Annotated[int, Query(ge=0, le=50)] = 2
) -> BotRankOut:
    ranked, board, frozen = await _view(request, tournament)
    if ranked is None:
        standing, around = await run_in_threadpool(
            lambda: (s := board.standing(bot, final=frozen), board.around(bot, k, final=frozen) if s else [])
        )
        if standing is None:
            raise ApiError(404, "UNKNOWN_BOT", f"{bot!r} is not on the leaderboard of {tournament!r}")
        return BotRankOut(tournament=tournament, bot=bot, rank=standing.rank, score=standing.score,
                          around=[StandingOut.of(s.rank, s.bot, s.score) for s in around])  # fmt: skip
    index = next((i for i, s in enumerate(ranked) if s.bot == bot), None)
    if index is None:
        raise ApiError(404, "UNKNOWN_BOT", f"{bot!r} is not on the leaderboard of {tournament!r}")
    mine = ranked[index]
    return BotRankOut(tournament=tournament, bot=bot, rank=mine.rank, score=mine.score,
                      around=ranked[max(0, index - k) : index + k + 1])  # fmt: skip


# The hub hands one Change object to every spectator of a feed, so each is encoded once, keyed by identity (stream
# ids alone repeat across tournaments). The entry holds the Change itself, so its id cannot be reused meanwhile.
_ENCODED: OrderedDict[int, tuple[Change, str]] = OrderedDict()
_ENCODED_KEPT = 1_024  # far more than the changes in flight at once (one per feed per tenth of a second)


def _change_text(change: Change) -> str:
    kept = _ENCODED.get(id(change))
    if kept is not None and kept[0] is change:
        return kept[1]
    body = {"type": "leaderboard", "id": change.stream_id, "seq": change.seq, "ts": change.ts,
            "tick": change.tick, "scores": change.scores}  # fmt: skip
    text = json.dumps(body, separators=(",", ":"))
    _ENCODED[id(change)] = (change, text)
    while len(_ENCODED) > _ENCODED_KEPT:
        _ENCODED.popitem(last=False)
    return text


@router.get("/{tournament}/leaderboard/stream", response_class=StreamingResponse)
async def stream(
    request: Request,
    tournament: TournamentId,
    last_event_id: Annotated[str | None, Header(pattern=r"^\d{1,20}-\d{1,20}$")] = None,
    after: Annotated[str | None, Query(pattern=r"^\d{1,20}-\d{1,20}$")] = None,
) -> Response:  # the stream, or the error envelope when the hub is full
    """Server-sent events: `leaderboard` changes (id = resume point) and a `heartbeat` at least every 15 s."""
    validate_tournament_id(tournament)
    await require_public(request.app.state.arena, tournament)
    hub = request.app.state.arena.hub
    heartbeat_s = request.app.state.arena.settings.heartbeat_s
    try:
        hub.admit(tournament)
    except HubFull as exc:
        return JSONResponse(error_body("TOO_MANY_SPECTATORS", str(exc)), status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_S)})

    async def events() -> AsyncIterator[bytes]:
        SSE_CLIENTS.inc()
        idle = 0.0
        try:
            yield b"retry: 2000\n\n"
            async with aclosing(hub.changes(tournament, last_event_id or after)) as changes:  # unsubscribes on exit
                async for change in changes:
                    if await request.is_disconnected():
                        return
                    if change is None:
                        idle += 1.0
                        if idle >= heartbeat_s:
                            idle = 0.0
                            yield b"event: heartbeat\ndata: {}\n\n"
                        continue
                    idle = 0.0
                    yield f"id: {change.stream_id}\nevent: leaderboard\ndata: {_change_text(change)}\n\n".encode()
        except (HubFull, TooSlow):
            return  # filled up since admit(), or fell behind: the client reconnects with Last-Event-ID
        finally:
            SSE_CLIENTS.dec()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


async def _ws_refusal(socket: WebSocket, tournament: str) -> tuple[int, str] | None:
    """Why a WebSocket spectator is turned away: (1013 try again later | 1008 policy, reason), else None."""
    state = socket.app.state.arena
    decision = await state.limiter.hit(client_address.address_key(socket, state.settings.trusted_proxies))
    if not decision.allowed:
        return 1013, f"too many requests; retry in {decision.retry_after_s} s"
    try:
        await require_public(state, tournament)
        state.hub.admit(tournament)
    except ApiError as exc:
        return 1008, exc.message
    except HubFull as exc:
        return 1013, str(exc)
    return None


@router.websocket("/{tournament}/leaderboard/ws")
async def websocket(socket: WebSocket, tournament: str, after: str | None = None) -> None:
    """WebSocket: `leaderboard` messages (resume with ?after=<id>) and `heartbeat` messages."""
    try:
        validate_tournament_id(tournament)
    except ValueError:
        await socket.close(code=1008, reason="bad tournament id")
        return
    state = socket.app.state.arena
    refusal = await _ws_refusal(socket, tournament)
    if refusal is not None:  # accepted first so the client sees the close code (before, it is a bare 403)
        await socket.accept()
        await socket.close(code=refusal[0], reason=refusal[1][:120])
        return
    await socket.accept()
    WEBSOCKET_CLIENTS.inc()
    idle = 0.0
    try:
        async with aclosing(state.hub.changes(tournament, after)) as changes:  # unsubscribes on exit
            async for change in changes:
                if change is None:
                    idle += 1.0
                    if idle >= state.settings.heartbeat_s:
                        idle = 0.0
                        await socket.send_json({"type": "heartbeat"})
                    continue
                idle = 0.0
                await socket.send_text(_change_text(change))
    except HubFull:
        await socket.close(code=1013, reason="too many spectators; retry later")
    except TooSlow:  # dropped, never waited for; 1008: this client, not the server, is the problem
        await socket.close(code=1008, reason="too slow: resume with ?after=<the last id seen>")
    except WebSocketDisconnect:
        pass
    finally:
        WEBSOCKET_CLIENTS.dec()
