"""Results from the durable record: public tournament list, final standings and bot cards; an entry's logs,
fills, orders and rejections for its owner and admins; rebuilding a leaderboard ZSET from the record.

Drafts are an admin's work in progress: the public endpoints treat them as unknown.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from arena.api import errors
from arena.api.deps import Admin, Db, Me, Viewer
from arena.api.errors import ApiError
from arena.api.paging import Page, PageRequest, Paging, by_id
from arena.engine.rulebook import describe
from arena.engine.rules import DEFAULT_RULESET, RulesetError, resolve_ruleset
from arena.runtime.leaderboard import Leaderboard
from arena.service import live
from arena.service.live import Progress
from arena.store import record
from arena.store.models import (
    Contestant,
    Entry,
    FillRecord,
    LogStream,
    StandingRecord,
    Tournament,
    TournamentStatus,
)
from arena.store.tournaments import key_names

router = APIRouter(prefix="/api/v1", tags=["results"], responses=errors.responses(*errors.API_ERRORS, 403, 404, 409))

Slug = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
BotKey = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
EntryId = Annotated[int, Path(ge=1, le=2**31 - 1)]

CARD_POINTS = 500  # an equity curve is downsampled to at most this many points
CURVE_READ_MAX = 200_000  # snapshots read per card, at most (the Recorder keeps ~1,000 per entry)
PUBLIC = (TournamentStatus.OPEN, TournamentStatus.RUNNING, TournamentStatus.FINISHED, TournamentStatus.CANCELLED,
          TournamentStatus.FAILED)


# -- models -------------------------------------------------------------------------------------------


class Schedule(BaseModel):
    """When a tournament takes entries, starts and ends: as planned, and as it happened."""

    entry_opens_at: datetime | None
    entry_closes_at: datetime | None
    starts_at: datetime | None
    ends_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def fields_of(cls, t: Tournament) -> dict[str, datetime | None]:
        return {name: getattr(t, name) for name in Schedule.model_fields}


class TournamentSummary(Schedule):
    slug: str
    name: str
    status: str
    clock: str
    ticks: int | None
    entries: int
    ruleset: dict[str, Any] = Field(description="the tournament's ruleset: its override merged over the default")


class BotLabel(BaseModel):
    """How to show a bot to people: its name as its owner chose it, and the owner; ``bot`` is its id (the key)."""

    bot: str = Field(description="the bot key, its id in the tournament (the leaderboard's and the stream's)")
    name: str = Field(description="the bot's name as its owner chose it")
    contestant: str | None = Field(description="its owner's name (null for a bot entered without one)")

    @staticmethod
    def fields_of(key: str) -> dict[str, str | None]:
        name, contestant = key_names(key)
        return {"bot": key, "name": name, "contestant": contestant}


class TournamentView(TournamentSummary):
    rules_text: list[str] = Field(description="the ruleset in plain words")
    progress: Progress | None = Field(description="how far it has got; null before the first tick")
    bots: list[str] = Field(description="the entrants' bot keys")
    entrants: list[BotLabel] = Field(description="the entrants' names, by bot key")


class ResultOut(BotLabel):
    rank: int
    score: float
    nav: float
    max_drawdown: float
    status: str
    trades: int
    fees: float
    disqualified: bool


class ResultsOut(Page[ResultOut]):
    """A page of the final standings, best first (equal ranks by bot key), with the tournament they are of."""

    tournament: str
    name: str
    finished_at: datetime | None


class PointOut(BaseModel):
    ts: int = Field(description="simulated time, ms since the epoch")
    nav: float
    score: float
    drawdown: float = Field(description="1 - nav / the highest nav so far (the starting balance included)")
    max_drawdown: float = Field(description="the engine's max drawdown so far (exact, from every tick)")


class CardOut(BotLabel):
    tournament: str
    status: str
    disqualified: bool
    final: bool = Field(description="true once the tournament is over and the figures are its final standing")
    rank: int | None
    score: float | None
    nav: float | None
    max_drawdown: float | None
    trades: int
    fees: float
    points: int = Field(description="snapshots on record (the curve below keeps at most 500 of them)")
    equity: list[PointOut]
    delayed_s: float = Field(0.0, description="while it runs, the public sees the card as of the leaderboard's "
                             "spectator delay; its owner and admins see it live (0)")


class LogLineOut(BaseModel):
    id: int
    ts: datetime
    stream: str
    text: str


class EntryLogOut(Page[LogLineOut]):
    """A page of the entry's log, with how its run ended."""

    entry: int
    tournament: str
    bot: str
    status: str
    end_classification: str | None
    end_reason: str
    resource_use: dict[str, Any]


class FillOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    order_id: int
    client_order_id: str | None
    ts: int
    symbol: str
    side: str
    qty: float
    price: float
    fee: float
    maker: bool
    filled_qty: float
    remaining: float
    liquidation: bool = False  # the engine's forced liquidation, not the bot's order


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    order_id: int
    client_order_id: str | None
    ts: int
    symbol: str
    side: str | None
    type: str | None
    tif: str | None
    session: str  # "regular" or "extended" (may trade in pre-market and after-hours)
    qty: float | None
    limit_price: float | None
    stop_price: float | None
    status: str
    filled_qty: float
    fees: float
    done_ts: int | None
    reason: str


class RejectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    ts: int
    client_order_id: str | None
    symbol: str | None
    code: str
    message: str


class RebuildOut(BaseModel):
    tournament: str
    source: Literal["standings", "equity"]
    bots: int
    final: bool
    top: list[dict[str, Any]]


# -- helpers ------------------------------------------------------------------------------------------


def _public(session: Db, slug: str) -> Tournament:
    t = session.scalar(select(Tournament).where(Tournament.slug == slug))
    if t is None or t.status not in PUBLIC:
        raise ApiError(404, "UNKNOWN_TOURNAMENT", f"no tournament {slug!r}")
    return t


@functools.lru_cache(maxsize=256)
def _merged(rules_json: str) -> dict[str, Any]:
    try:
        return resolve_ruleset(json.loads(rules_json)).model_dump(mode="json")
    except RulesetError:  # validated when it was set; a later engine may have tightened the model
        return json.loads(rules_json)


def _ruleset(rules: dict[str, Any] | None) -> dict[str, Any]:
    return _merged(json.dumps(rules or {}, sort_keys=True))


def _visible_entry(session: Db, me: Contestant, entry_id: int) -> Entry:
    """The entry if ``me`` owns it or is an admin; anyone else learns nothing, not even that it exists."""
    entry = session.get(Entry, entry_id)
    if entry is None or (entry.contestant_id != me.id and not me.is_admin):
        raise ApiError(404, "UNKNOWN_ENTRY", f"no entry {entry_id}")
    return entry


def downsample(points: list[PointOut], most: int = CARD_POINTS) -> list[PointOut]:
    """At most ``most`` points: the first and the last, and from each of (most - 2) / 2 equal runs of the
    rest its lowest and highest NAV (in time order), so peaks and troughs, hence drawdowns, survive."""
    if len(points) <= most:
        return points
    inner = points[1:-1]
    buckets = (most - 2) // 2
    out = [points[0]]
    for i in range(buckets):
        run = inner[i * len(inner) // buckets : (i + 1) * len(inner) // buckets]
        if not run:
            continue
        low = min(range(len(run)), key=lambda j: run[j].nav)
        high = max(range(len(run)), key=lambda j: run[j].nav)
        out.extend(run[j] for j in sorted({low, high}))
    out.append(points[-1])
    return out


# -- public ---------------------------------------------------------------------------------------------


@router.get("/tournaments", response_model=Page[TournamentSummary])
def tournaments(
    session: Db,
    paging: Paging,
    status: Annotated[Literal["open", "running", "finished", "cancelled"] | None, Query()] = None,
) -> Page[TournamentSummary]:
    """Tournaments that are open, running or over (newest first), with their merged rulesets."""
    wanted = [TournamentStatus(status)] if status else list(PUBLIC)
    query = select(Tournament).where(Tournament.status.in_(wanted))
    rows, after = by_id(session, query, Tournament.id, paging, "tournaments", newest_first=True)
    counts = dict(
        session.execute(
            select(Entry.tournament_id, func.count())
            .where(Entry.tournament_id.in_([t.id for t in rows]))
            .group_by(Entry.tournament_id)
        ).all()
    )
    return Page(items=[_summary(t, counts.get(t.id, 0)) for t in rows], next=after)


def _summary(t: Tournament, entries: int) -> TournamentSummary:
    return TournamentSummary(
        slug=t.slug,
        name=t.name,
        status=t.status.value,
        clock=t.clock.value,
        ticks=t.ticks,
        entries=entries,
        ruleset=_ruleset(t.rules),
        **Schedule.fields_of(t),
    )


@router.get("/tournaments/{slug}", response_model=TournamentView)
def tournament(request: Request, slug: Slug, session: Db) -> TournamentView:
    """One tournament for spectators: its ruleset in plain words, how far it has got, and its entrants."""
    t = _public(session, slug)
    summary = _summary(t, len(t.entries))
    return TournamentView(
        **summary.model_dump(),
        rules_text=list(_rules_text(json.dumps(t.rules or {}, sort_keys=True), tuple(t.symbols or ()))),
        progress=live.progress(request.app.state.arena.redis, t.slug, t.ticks),
        bots=sorted(e.bot_key for e in t.entries),
        entrants=[BotLabel(**BotLabel.fields_of(e.bot_key)) for e in sorted(t.entries, key=lambda e: e.bot_key)],
    )


@functools.lru_cache(maxsize=256)
def _rules_text(rules_json: str, markets: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return tuple(describe(resolve_ruleset(json.loads(rules_json)), list(markets)))
    except RulesetError:  # validated when it was set; a later engine may have tightened the model
        return ()


@router.get("/rules/default", tags=["results"])
def default_rules() -> dict[str, Any]:
    """The default ruleset, every field expanded: a tournament's override is merged over it."""
    return {"ruleset": DEFAULT_RULESET.model_dump(mode="json")}


@router.get("/tournaments/{slug}/results", response_model=ResultsOut)
def results(slug: Slug, session: Db, paging: Paging) -> ResultsOut:
    """The final standings, a page at a time: 404 RESULTS_NOT_READY until the tournament has finished."""
    after = paging.after("results", (int, str))
    t = _public(session, slug)
    standings = record.standings_of(session, t) if t.status is TournamentStatus.FINISHED else []
    if not standings:
        why = "it has no standings on record" if t.status is TournamentStatus.FINISHED else f"it is {t.status.value}"
        raise ApiError(404, "RESULTS_NOT_READY", f"tournament {slug!r} has no results: {why}")
    def place(s: StandingRecord) -> tuple[int, str]:
        return s.rank, s.entry.bot_key  # unique: an entry's key is unique in its tournament

    rows = [s for s in sorted(standings, key=place) if after is None or place(s) > after][: paging.limit + 1]
    shown, cursor = paging.page("results", rows, place)
    return ResultsOut(
        tournament=t.slug,
        name=t.name,
        finished_at=t.finished_at,
        next=cursor,
        items=[
            ResultOut(
                rank=s.rank,
                **BotLabel.fields_of(s.entry.bot_key),
                score=s.score,
                nav=s.nav,
                max_drawdown=s.max_drawdown,
                status=s.status,
                trades=s.trades,
                fees=s.fees,
                disqualified=s.entry.disqualified,
            )
            for s in shown
        ],
    )


NOTHING_YET = -(2**62)  # a simulated time before any tick: the public sees no point of the curve yet


def _public_until(request: Request, t: Tournament) -> int | None:
    """The simulated time up to which the public may see a running tournament's record, as far as its delayed
    leaderboard has got (spectators must not read rivals' figures live); None when nothing is held back."""
    state = request.app.state.arena
    delay_s = state.settings.spectator_delay_s
    if delay_s <= 0 or t.status is not TournamentStatus.RUNNING or Leaderboard(state.redis, t.slug).is_frozen():
        return None
    as_of = live.board_as_of(state.redis, t.slug, delay_s, time.time())
    return NOTHING_YET if as_of is None else as_of


@router.get("/tournaments/{slug}/bots/{bot}", response_model=CardOut)
def card(request: Request, slug: Slug, bot: BotKey, session: Db, who: Viewer) -> CardOut:
    """A bot's public card: its equity curve (at most 500 points) and drawdown, trades, fees and final rank.
    While the tournament runs it shows what is on record so far (the record lags the live board a little);
    with a spectator delay the public sees it as of the delayed leaderboard, its owner and admins live."""
    t = _public(session, slug)
    entry = session.scalar(select(Entry).where(Entry.tournament_id == t.id, Entry.bot_key == bot))
    if entry is None:
        raise ApiError(404, "UNKNOWN_BOT", f"{bot!r} is not entered in tournament {slug!r}")
    standing = session.scalar(select(StandingRecord).where(StandingRecord.entry_id == entry.id))
    insider = who is not None and (who.is_admin or who.id == entry.contestant_id)
    until = None if standing is not None or insider else _public_until(request, t)
    rows = record.equity_curve(session, entry.id, limit=CURVE_READ_MAX, until_ts=until)
    peak = float(_ruleset(t.rules).get("starting_balance") or 0.0)
    points = []
    for ts, nav, max_dd, score in rows:
        peak = max(peak, nav)
        points.append(PointOut(ts=ts, nav=nav, score=score, max_drawdown=max_dd,
                               drawdown=1.0 - nav / peak if peak > 0 else 0.0))  # fmt: skip
    if standing is not None:
        trades, fees = standing.trades, standing.fees
    else:
        fills = select(func.count(), func.coalesce(func.sum(FillRecord.fee), 0.0))
        fills = fills.where(FillRecord.entry_id == entry.id)
        if until is not None:
            fills = fills.where(FillRecord.ts <= until)
        count, total = session.execute(fills).one()
        trades, fees = int(count), float(total)
    last = points[-1] if points else None
    status = live.statuses(request.app.state.arena.redis, t).get(bot, entry.status.value)
    return CardOut(
        tournament=t.slug, **BotLabel.fields_of(bot), status=status, disqualified=entry.disqualified,
        final=standing is not None, rank=standing.rank if standing else None,
        score=standing.score if standing else (last.score if last else None),
        nav=standing.nav if standing else (last.nav if last else None),
        max_drawdown=standing.max_drawdown if standing else (last.max_drawdown if last else None),
        trades=trades, fees=fees, points=len(points), equity=downsample(points),
        delayed_s=0.0 if until is None else request.app.state.arena.settings.spectator_delay_s,
    )  # fmt: skip


# -- an entry's owner, or an admin ------------------------------------------------------------------------


@router.get("/entries/{entry_id}/logs", response_model=EntryLogOut)
def entry_logs(
    entry_id: EntryId,
    session: Db,
    me: Me,
    paging: Paging,
    stream: Annotated[Literal["stderr", "protocol", "system"] | None, Query()] = None,
) -> EntryLogOut:
    """The entry's log (capped at 5,000 lines when recorded), oldest first, and how its run ended. Owner or
    admin only."""
    entry = _visible_entry(session, me, entry_id)
    after = paging.after("logs", (int,))
    rows = record.logs_of(session, entry.id, after[0] if after else 0, paging.limit + 1,
                          LogStream(stream) if stream else None)  # fmt: skip
    lines, cursor = paging.page("logs", rows, lambda x: (x.id,))
    return EntryLogOut(
        entry=entry.id, tournament=entry.tournament.slug, bot=entry.bot_key, status=entry.status.value,
        end_classification=entry.end_classification, end_reason=entry.end_reason or "",
        resource_use=entry.resource_use or {},
        items=[LogLineOut(id=x.id, ts=x.ts, stream=x.stream.value, text=x.text) for x in lines], next=cursor,
    )  # fmt: skip


def _record_page(
    read: Callable[[Session, int, int, int], list[Any]], kind: str, session: Session, me: Contestant, entry_id: int,
    paging: PageRequest,
) -> tuple[list[Any], str | None]:
    """A page of one of the entry's recorded rows (oldest first), for its owner or an admin."""
    entry = _visible_entry(session, me, entry_id)
    after = paging.after(kind, (int,))
    return paging.page(kind, read(session, entry.id, after[0] if after else 0, paging.limit + 1), lambda r: (r.id,))


@router.get("/entries/{entry_id}/fills", response_model=Page[FillOut])
def entry_fills(entry_id: EntryId, session: Db, me: Me, paging: Paging) -> Page[FillOut]:
    rows, cursor = _record_page(record.fills_of, "fills", session, me, entry_id, paging)
    return Page(items=[FillOut.model_validate(f) for f in rows], next=cursor)


@router.get("/entries/{entry_id}/orders", response_model=Page[OrderOut])
def entry_orders(entry_id: EntryId, session: Db, me: Me, paging: Paging) -> Page[OrderOut]:
    rows, cursor = _record_page(record.orders_of, "orders", session, me, entry_id, paging)
    return Page(items=[OrderOut.model_validate(o) for o in rows], next=cursor)


@router.get("/entries/{entry_id}/rejections", response_model=Page[RejectionOut])
def entry_rejections(entry_id: EntryId, session: Db, me: Me, paging: Paging) -> Page[RejectionOut]:
    rows, cursor = _record_page(record.rejections_of, "rejections", session, me, entry_id, paging)
    return Page(items=[RejectionOut.model_validate(r) for r in rows], next=cursor)


# -- admin --------------------------------------------------------------------------------------------------


@router.post("/admin/tournaments/{slug}/rebuild-leaderboard", response_model=RebuildOut, tags=["admin"])
def rebuild_leaderboard(request: Request, slug: Slug, session: Db, _: Admin) -> RebuildOut:
    """Rebuild the tournament's leaderboard ZSET from the durable record (e.g. after Redis lost it): the final
    standings of a finished tournament (its final board too, frozen), else each entry's latest equity."""
    t = session.scalar(select(Tournament).where(Tournament.slug == slug))
    if t is None:
        raise ApiError(404, "UNKNOWN_TOURNAMENT", f"no tournament {slug!r}")
    final = t.status is TournamentStatus.FINISHED
    has_standings = bool(record.standings_of(session, t))
    scores = record.standings_scores(session, t)
    if not scores:
        raise ApiError(409, "NO_RECORD", f"tournament {slug!r} has nothing on record to rebuild a leaderboard from")
    client = request.app.state.arena.redis
    board = Leaderboard(client, slug)
    if board.is_frozen():
        if not final:
            raise ApiError(409, "LEADERBOARD_FROZEN", f"the leaderboard of {slug!r} was frozen while it runs; "
                           "the record keeps no copy of the frozen board, so it is left as it is")  # fmt: skip
        # The frozen final board is rewritten in place, with the live one (one transaction); the history and
        # the change feed stay.
        with client.pipeline(transaction=True) as pipe:
            pipe.delete(board.keys.live, board.keys.final, board.keys.top)  # top: the live board's snapshot
            pipe.zadd(board.keys.live, scores)
            pipe.zadd(board.keys.final, scores)
            pipe.execute()
    else:
        board.rebuild(scores)
        if final or t.frozen:
            board.freeze()
    top = [{"rank": s.rank, "bot": s.bot, "score": s.score} for s in board.top(10, final=board.is_frozen())]
    source: Literal["standings", "equity"] = "standings" if has_standings else "equity"
    return RebuildOut(tournament=t.slug, source=source, bots=len(scores), final=final, top=top)
