"""Administration: contestants, their API keys and quotas, tournaments and their lifecycle. Admins only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import select

from arena.api import errors
from arena.api.contestants import QuotasOut, quotas_out
from arena.api.deps import Admin, Db, after_commit
from arena.api.errors import ApiError
from arena.api.multipart import FILE_BODY, read_file
from arena.api.paging import Page, Paging, by_id
from arena.engine.rules import RulesetError, resolve_ruleset
from arena.feeds import FeedError
from arena.runtime.lease import holder
from arena.settings import Limit
from arena.store import accounts
from arena.store import quotas as quota_repo
from arena.store import tournaments as repo
from arena.store.errors import NotFound
from arena.store.models import Clock, Contestant, Tournament, TournamentStatus

router = APIRouter(prefix="/api/v1/admin", tags=["admin"],
                   responses=errors.responses(*errors.API_ERRORS, 403, 404, 409))
MAX_FEED_BYTES = 64 << 20
Slug = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]


class ContestantIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    email: str | None = Field(None, max_length=320)
    is_admin: bool = False
    password: str | None = Field(None, min_length=8, max_length=1024, description="for signing in to the dashboard")


class ContestantOut(BaseModel):
    id: int
    name: str
    is_admin: bool
    api_key: str = Field(description="Shown once: store it now.")


class TournamentIn(BaseModel):
    slug: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
    name: str = Field(min_length=1, max_length=200)
    rules: dict[str, Any] = Field(default_factory=dict, description="ruleset override, merged over the default")
    feed: str = Field("synthetic:0", max_length=1024)
    symbols: list[str] | None = None
    seed: int = Field(0, ge=0, le=2**63 - 1)
    ticks: int = Field(200, ge=1, le=10_000_000)
    interval_s: int = Field(60, ge=1, le=86_400)
    clock: Literal["lockstep", "realtime"] = "lockstep"
    tick_deadline_s: float = Field(
        2.0, gt=0, le=600, description="lockstep: how long bots may take per tick; realtime: how long a tick lasts"
    )
    limits: dict[str, Any] = Field(default_factory=dict)
    entry_opens_at: datetime | None = None
    entry_closes_at: datetime | None = None
    starts_at: datetime | None = Field(None, description="an open tournament starts by itself then")
    ends_at: datetime | None = Field(None, description="a running tournament is stopped then (else: after its ticks)")


class TournamentPatch(BaseModel):
    """Fields to change while the tournament is a draft or open; others keep their values."""

    name: str | None = Field(None, min_length=1, max_length=200)
    rules: dict[str, Any] | None = None
    feed: str | None = Field(None, max_length=1024)
    symbols: list[str] | None = None
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    ticks: int | None = Field(None, ge=1, le=10_000_000)
    interval_s: int | None = Field(None, ge=1, le=86_400)
    clock: Literal["lockstep", "realtime"] | None = None
    tick_deadline_s: float | None = Field(None, gt=0, le=600)
    limits: dict[str, Any] | None = None
    entry_opens_at: datetime | None = None
    entry_closes_at: datetime | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None


class TournamentOut(BaseModel):
    slug: str
    name: str
    status: str
    rules: dict[str, Any]
    feed: str
    seed: int
    ticks: int | None
    clock: str
    frozen: bool
    entries: int
    end_reason: str = Field("", description="why it failed or was cancelled, when it did")

    @classmethod
    def of(cls, t: Tournament) -> TournamentOut:
        return cls(slug=t.slug, name=t.name, status=t.status.value, rules=t.rules, feed=t.feed, seed=t.seed,
                   ticks=t.ticks, clock=t.clock.value, frozen=t.frozen, entries=len(t.entries),
                   end_reason=t.end_reason or "")  # fmt: skip


def _validated_rules(rules: dict[str, Any]) -> dict[str, Any]:
    try:
        resolve_ruleset(rules)
    except RulesetError as exc:
        fields = [{"field": f"rules.{path}", "message": message} for path, message in exc.errors]
        raise ApiError(422, "INVALID_RULESET", f"invalid ruleset override: {exc}", fields=fields) from None
    return rules


@router.post("/contestants", status_code=201, response_model=ContestantOut)
def create_contestant(body: ContestantIn, session: Db, _admin: Admin) -> ContestantOut:
    who = accounts.create_contestant(session, body.name, body.email, body.is_admin)
    if body.password is not None:
        accounts.set_password(who, body.password)
    _, key = accounts.create_api_key(session, who, "created by an admin")
    return ContestantOut(id=who.id, name=who.name, is_admin=who.is_admin, api_key=key)


ContestantName = Annotated[str, Path(min_length=1, max_length=64)]
# A number sets the contestant's own limit; null returns it to the default.
QuotaChanges = Annotated[dict[str, Limit | None], Field(max_length=16)]


def _contestant(session: Db, name: str) -> Contestant:
    who = accounts.contestant_by_name(session, name)
    if who is None:
        raise NotFound(f"no contestant named {name!r}", "UNKNOWN_CONTESTANT")
    return who


@router.get("/contestants/{name}/quotas", response_model=QuotasOut)
def contestant_quotas(request: Request, name: ContestantName, session: Db, _: Admin) -> QuotasOut:
    """A contestant's quotas, the ones set for them, and how much of each they use."""
    return quotas_out(request, session, _contestant(session, name))


@router.patch("/contestants/{name}/quotas", response_model=QuotasOut)
def set_contestant_quotas(request: Request, name: ContestantName, body: QuotaChanges, session: Db,
                          _: Admin) -> QuotasOut:  # fmt: skip
    """Set a contestant's own limits, e.g. ``{"bots": 50, "uploads_per_hour": null}`` (null: back to the
    default). An unknown quota is 422 UNKNOWN_QUOTA, and nothing changes. Lowering a limit below what they hold
    takes nothing away; it refuses more."""
    who = _contestant(session, name)
    quota_repo.set_overrides(who, body)
    return quotas_out(request, session, who)


@router.post("/tournaments", status_code=201, response_model=TournamentOut)
def create_tournament(request: Request, body: TournamentIn, session: Db, me: Admin) -> TournamentOut:
    fields = body.model_dump(exclude={"slug", "name"})
    fields["rules"] = _validated_rules(body.rules)
    fields["clock"] = Clock(body.clock)
    tournament = repo.create_tournament(session, body.slug, body.name, created_by=me, **fields)
    session.flush()
    request.app.state.arena.background.cache_ruleset(body.slug, fields["rules"])
    return TournamentOut.of(tournament)


@router.patch("/tournaments/{slug}", response_model=TournamentOut)
def edit_tournament(request: Request, slug: Slug, body: TournamentPatch, session: Db, _: Admin) -> TournamentOut:
    tournament = repo.get_tournament(session, slug)
    fields = body.model_dump(exclude_unset=True)
    if "rules" in fields:
        fields["rules"] = _validated_rules(fields["rules"] or {})
        request.app.state.arena.background.cache_ruleset(slug, fields["rules"])
    if fields.get("clock"):
        fields["clock"] = Clock(fields["clock"])
    repo.update_tournament(session, tournament, **fields)
    return TournamentOut.of(tournament)


@router.post("/tournaments/{slug}/rerun", status_code=201, response_model=TournamentOut)
def rerun(request: Request, slug: Slug, session: Db, me: Admin) -> TournamentOut:
    """Run a finished (or cancelled, or failed) tournament again from its recorded seed, with the same entries and
    versions, as a new tournament ``<slug>-rerun-N``; the same seed and bots give the same standings."""
    source = repo.get_tournament(session, slug)
    if source.status not in (TournamentStatus.FINISHED, TournamentStatus.CANCELLED, TournamentStatus.FAILED):
        raise ApiError(409, "NOT_OVER", f"tournament {slug!r} is {source.status.value}; re-run it once it is over")
    taken = {t.slug for t in repo.list_tournaments(session)}
    number = next(i for i in range(1, 10_000) if f"{slug}-rerun-{i}" not in taken)
    fields = {k: getattr(source, k) for k in ("rules", "feed", "symbols", "seed", "ticks", "interval_s", "clock",
                                              "tick_deadline_s", "limits")}  # fmt: skip
    copy = repo.create_tournament(session, f"{slug}-rerun-{number}"[:64], f"{source.name} (re-run {number})",
                                  created_by=me, **fields)  # fmt: skip
    repo.transition(session, copy, TournamentStatus.OPEN)
    session.flush()
    for entry in source.entries:
        if not entry.disqualified:
            repo.enter(session, copy, entry.bot_version, entry.bot.owner, bot=entry.bot)
    repo.transition(session, copy, TournamentStatus.RUNNING)
    session.flush()
    copy_id, copy_slug, background = copy.id, copy.slug, request.app.state.arena.background
    after_commit(session, lambda: background.schedule_tournament(copy_id, copy_slug))
    return TournamentOut.of(copy)


class FeedOut(BaseModel):
    feed: str = Field(description="use as a tournament's feed")
    sha256: str
    symbols: list[str]
    bytes: int


@router.post("/feeds", status_code=201, response_model=FeedOut, openapi_extra=FILE_BODY)
async def upload_feed(request: Request, _admin: Admin) -> FeedOut:
    """Upload a replay CSV (quotes or OHLCV bars). Every row is checked first; a bad one is refused with its
    line and code, and nothing is stored."""
    _, data = await read_file(request, MAX_FEED_BYTES)  # read once the caller is known to be an admin
    if len(data) > MAX_FEED_BYTES:
        raise ApiError(413, "FEED_TOO_LARGE", f"a replay file is at most {MAX_FEED_BYTES // (1 << 20)} MiB")
    try:
        stored = await run_in_threadpool(request.app.state.arena.background.store_feed, data)
    except FeedError as exc:
        raise ApiError(422, exc.code.value, str(exc)) from None
    return FeedOut(**stored)


@router.get("/tournaments", response_model=Page[TournamentOut])
def list_tournaments(session: Db, _: Admin, paging: Paging) -> Page[TournamentOut]:
    """Every tournament, drafts included, newest first."""
    rows, after = by_id(session, select(Tournament), Tournament.id, paging, "admin-tournaments", newest_first=True)
    return Page(items=[TournamentOut.of(t) for t in rows], next=after)


@router.post("/tournaments/{slug}/{action}", response_model=TournamentOut)
def lifecycle(
    request: Request,
    slug: Slug,
    action: Literal["open", "start", "stop", "cancel", "freeze"],
    session: Db,
    _: Admin,
) -> TournamentOut:
    """open (draft → open), start (open → running: the tournament runs), stop (end a running tournament now:
    it finishes with the standings so far), cancel, freeze the leaderboard."""
    tournament = repo.get_tournament(session, slug)
    if action == "open":
        repo.transition(session, tournament, TournamentStatus.OPEN)
    elif action == "cancel":
        repo.transition(session, tournament, TournamentStatus.CANCELLED)
        request.app.state.arena.background.stop_tournament(slug)
    elif action == "stop":
        if tournament.status is not TournamentStatus.RUNNING:
            raise ApiError(409, "NOT_RUNNING", f"tournament {slug!r} is {tournament.status.value}, not running")
        background = request.app.state.arena.background
        if holder(background.client, slug) is None:  # no engine runs it: nothing would answer the stop
            repo.transition(session, tournament, TournamentStatus.FAILED,
                            reason="stopped by an admin while no engine was running it")  # fmt: skip
        background.stop_tournament(slug)
    elif action == "freeze":
        repo.set_frozen(session, tournament, True)
        request.app.state.arena.background.freeze(slug)
    else:
        if not tournament.entries:
            raise ApiError(409, "NO_ENTRIES", f"tournament {slug!r} has no entries to run")
        repo.transition(session, tournament, TournamentStatus.RUNNING)
        session.flush()
        tournament_id, background = tournament.id, request.app.state.arena.background
        after_commit(session, lambda: background.schedule_tournament(tournament_id, slug))
    return TournamentOut.of(tournament)


@router.post("/tournaments/{slug}/entries/{entry_id}/disqualify")
def disqualify(request: Request, slug: Slug, entry_id: int, session: Db, _: Admin) -> dict[str, Any]:
    tournament = repo.get_tournament(session, slug)
    entry = repo.get_entry(session, entry_id)
    if entry.tournament_id != tournament.id:
        raise ApiError(404, "UNKNOWN_ENTRY", f"tournament {slug!r} has no entry {entry_id}")
    repo.disqualify(session, entry)
    request.app.state.arena.background.disqualify(slug, entry.bot_key)
    return {"entry": entry.id, "bot_key": entry.bot_key, "disqualified": True}
