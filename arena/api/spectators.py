"""Spectators: public, read-only leaderboard views and live streams (SSE and WebSocket)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, WebSocket
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from arena.api import client_address, errors, spectator_wire
from arena.api.errors import RETRY_AFTER_S, ApiError, error_body
from arena.api.paging import Page, Paging
from arena.api.public_tournaments import require_public
from arena.api.results import BotLabel
from arena.engine.ranking import competition_ranks
from arena.metrics import SSE_CLIENTS, WEBSOCKET_CLIENTS
from arena.runtime.leaderboard import Leaderboard, validate_tournament_id
from arena.service.hub import ChangeHub, End, HubFull

router = APIRouter(prefix="/api/v1/tournaments", tags=["spectators"],
                   responses=errors.responses(*errors.API_ERRORS, 404))

TournamentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")]
STREAM_ID = r"^\d{1,20}-\d{1,20}$"  # a Redis stream id: where a spectator resumes
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


class EventStream(StreamingResponse):
    """Server-sent events for one spectator: `leaderboard` changes (id = resume point) and heartbeats, written by
    the hub (spectator_wire); ends when the client leaves or the hub ends the stream (the client reconnects with
    Last-Event-ID)."""

    def __init__(self, hub: ChangeHub, tournament: str, after: str | None) -> None:
        super().__init__(iter(()), media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})  # fmt: skip
        self.hub, self.tournament, self.after = hub, tournament, after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": b"retry: 2000\n\n", "more_body": True})
        # Each send above returns once the middleware has the message; it writes the headers before it takes the
        # body, so the hub's writes, straight to the connection, follow the headers.
        sink = spectator_wire.event_sink(scope, send)
        SSE_CLIENTS.inc()
        try:
            await spectator_wire.watch(self.hub, self.tournament, sink, self.after, receive)
        except HubFull:
            pass  # filled up since admit(): the client retries
        finally:
            SSE_CLIENTS.dec()
        await spectator_wire.finish(sink, send({"type": "http.response.body", "body": b"", "more_body": False}))


@router.get("/{tournament}/leaderboard/stream", response_class=StreamingResponse)
async def stream(
    request: Request,
    tournament: TournamentId,
    last_event_id: Annotated[str | None, Header(pattern=STREAM_ID)] = None,
    after: Annotated[str | None, Query(pattern=STREAM_ID)] = None,
) -> Response:  # the stream, or the error envelope when the hub is full
    """Server-sent events: `leaderboard` changes (id = resume point) and a `heartbeat` at least every 15 s."""
    validate_tournament_id(tournament)
    await require_public(request.app.state.arena, tournament)
    hub = request.app.state.arena.hub
    try:
        hub.admit(tournament)
    except HubFull as exc:
        return JSONResponse(error_body("TOO_MANY_SPECTATORS", str(exc)), status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_S)})
    return EventStream(hub, tournament, last_event_id or after)


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


_RESUME = "resume with ?after=<the last id seen>"
# How a WebSocket spectator's stream ends, by the hub's reason. 1008 for a slow one: this client, not the server,
# is the problem.
_CLOSES = {End.TOO_SLOW: (1008, f"too slow: {_RESUME}"), End.ENDED: (1001, f"stream ended: {_RESUME}"),
           End.BACKLOG: (1000, f"backlog read: {_RESUME}")}  # fmt: skip


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
    if refusal is None and after is not None and not re.fullmatch(STREAM_ID, after):
        refusal = 1008, "bad after: a stream id such as 1700000000000-0"
    if refusal is not None:  # accepted first so the client sees the close code (before, it is a bare 403)
        await socket.accept()
        await socket.close(code=refusal[0], reason=refusal[1][:120])
        return
    await socket.accept()
    sink = spectator_wire.websocket_sink(socket.scope, socket.send)
    WEBSOCKET_CLIENTS.inc()
    try:
        why = await spectator_wire.watch(state.hub, tournament, sink, after, socket.receive)
        close = _CLOSES[why] if why is not None else None
    except HubFull:
        close = 1013, "too many spectators; retry later"
    finally:
        WEBSOCKET_CLIENTS.dec()
    if close is not None:
        await spectator_wire.finish(sink, socket.close(code=close[0], reason=close[1]))
