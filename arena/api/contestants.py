"""Contestants: their bots, versions (upload + smoke test), entries, API keys and quotas. Each sees only their own.

What a contestant may hold and do is bounded by their quotas (``arena.store.quotas``); a request over one is
refused with QUOTA_EXCEEDED (or TOO_MANY_API_KEYS, SMOKE_QUEUE_FULL) naming the quota, and changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.api import errors
from arena.api.deps import Db, Me, after_commit
from arena.api.errors import ApiError
from arena.api.multipart import FILE_BODY, read_file
from arena.api.paging import Page, Paging, by_id
from arena.metrics import UPLOADS
from arena.service import live
from arena.settings import Quotas
from arena.store import accounts
from arena.store import bots as bot_repo
from arena.store import quotas as quota_repo
from arena.store import tournaments as tournament_repo
from arena.store.errors import NotFound
from arena.store.models import ApiKey, Bot, BotVersion, Contestant, Entry, Tournament
from arena.uploads import ErrorCode, UploadError, validate_upload

router = APIRouter(prefix="/api/v1", tags=["contestants"],
                   responses=errors.responses(*errors.API_ERRORS, 403, 404, 409))

Name = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class VersionOut(BaseModel):
    id: int
    bot: str
    version: int
    sha256: str
    size_bytes: int
    file_count: int
    status: str
    smoke_log: str
    end_classification: str | None
    created_at: datetime
    checked_at: datetime | None

    @classmethod
    def of(cls, v: BotVersion) -> VersionOut:
        return cls(
            id=v.id,
            bot=v.bot.name,
            version=v.version,
            sha256=v.sha256,
            size_bytes=v.size_bytes,
            file_count=v.file_count,
            status=v.status.value,
            smoke_log=v.smoke_log,
            end_classification=v.end_classification,
            created_at=v.created_at,
            checked_at=v.checked_at,
        )


class BotOut(BaseModel):
    id: int
    name: str
    versions: list[VersionOut]


class EntryIn(BaseModel):
    bot: str
    version: int | None = None  # default: the latest ready version
    remote: bool = Field(False, description="enter the bot as a remote bot: it runs on your machine and connects "
                         "through the bot gateway (no version; the tournament's rules must take remote bots)")


class EntryOut(BaseModel):
    id: int
    tournament: str
    bot: str
    bot_key: str
    version: int | None  # None: a remote bot
    remote: bool = False
    status: str
    disqualified: bool
    end_classification: str | None

    @classmethod
    def of(cls, e: Entry) -> EntryOut:
        return cls(id=e.id, tournament=e.tournament.slug, bot=e.bot.name, bot_key=e.bot_key,
                   version=e.bot_version.version if e.bot_version else None, remote=e.remote,
                   status=e.status.value, disqualified=e.disqualified,
                   end_classification=e.end_classification)  # fmt: skip


@router.post("/bots/{name}/versions", status_code=202, response_model=VersionOut, openapi_extra=FILE_BODY)
async def upload(request: Request, name: Name, session: Db, me: Me) -> VersionOut:
    """Upload a new version of bot ``name`` (created on first upload): a .py file, or a .zip / .tar.gz with
    main.py at its root. It is stored by content hash and smoke-tested in the sandbox; poll the version for
    its verdict (pending → ready | failed). The body is read only once the caller is authenticated and has room
    in their quotas (409 / 429 QUOTA_EXCEEDED) and the smoke-test queue (503 SMOKE_QUEUE_FULL)."""
    state = request.app.state.arena
    limits = state.upload_limits
    _room_for_upload(request, session, me, name)  # before the body is read: a refusal costs no upload
    filename, data = await read_file(request, limits.max_upload_bytes)
    try:
        bundle = await run_in_threadpool(validate_upload, filename, data, limits)
    except UploadError as exc:
        UPLOADS.labels(outcome="rejected").inc()
        status = 413 if exc.code.value in ("upload_too_large", "unpacked_too_large") else 422
        status = 503 if exc.code is ErrorCode.CHECK_UNAVAILABLE else status  # the service's fault: retry
        raise ApiError(status, exc.code.value.upper(), exc.message) from None
    quota_repo.lock(session, me)
    _room_for_upload(request, session, me, name, bundle.total_bytes)  # again, in turn with the caller's writes
    bot = bot_repo.bot_by_name(session, me, name) or bot_repo.create_bot(session, me, name)
    path = await run_in_threadpool(state.bundles.put, bundle)
    version = bot_repo.add_version(session, bot, sha256=bundle.sha256, size_bytes=bundle.total_bytes,
                                   file_count=bundle.file_count, storage_path=str(path))  # fmt: skip
    session.flush()
    UPLOADS.labels(outcome="accepted").inc()
    version_id = version.id
    after_commit(session, lambda: state.background.schedule_smoke_test(version_id))
    return VersionOut.of(version)


def quotas_of(request: Request, who: Contestant) -> Quotas:
    return quota_repo.effective(who, request.app.state.arena.settings.quotas)


def _room_for_upload(request: Request, session: Session, me: Contestant, name: str, size_bytes: int = 0) -> None:
    new_bot = bot_repo.bot_by_name(session, me, name) is None
    quota_repo.check_upload(session, me, quotas_of(request, me), new_bot=new_bot, size_bytes=size_bytes)
    quota_repo.check_smoke_queue(session, request.app.state.arena.settings.smoke_queue_max)


@router.get("/bots", response_model=Page[BotOut])
def my_bots(session: Db, me: Me, paging: Paging) -> Page[BotOut]:
    """Your bots, oldest first, each with its versions."""
    bots, after = by_id(session, select(Bot).where(Bot.owner_id == me.id), Bot.id, paging, "bots")
    return Page(items=[_bot_out(session, b) for b in bots], next=after)


def _bot_out(session: Session, bot: Bot) -> BotOut:
    return BotOut(id=bot.id, name=bot.name, versions=[VersionOut.of(v) for v in bot_repo.versions_of(session, bot)])


def _my_bot(session: Db, me: Me, name: str) -> Bot:
    bot = bot_repo.bot_by_name(session, me, name)
    if bot is None:
        raise NotFound(f"you have no bot named {name!r}", "UNKNOWN_BOT")
    return bot


@router.get("/bots/{name}", response_model=BotOut)
def my_bot(name: Name, session: Db, me: Me) -> BotOut:
    return _bot_out(session, _my_bot(session, me, name))


@router.get("/bots/{name}/versions/{version}", response_model=VersionOut)
def my_version(name: Name, version: int, session: Db, me: Me) -> VersionOut:
    bot = _my_bot(session, me, name)
    found = next((v for v in bot_repo.versions_of(session, bot) if v.version == version), None)
    if found is None:
        raise NotFound(f"bot {name!r} has no version {version}", "UNKNOWN_VERSION")
    return VersionOut.of(found)


@router.post("/tournaments/{slug}/entries", status_code=201, response_model=EntryOut)
def enter(request: Request, slug: str, body: EntryIn, session: Db, me: Me) -> EntryOut:
    """Enter one ready version of your bot into an open tournament (at most ``entries_per_tournament`` bots)."""
    tournament = tournament_repo.get_tournament(session, slug)
    if body.remote:
        return _enter_remote(request, tournament, body, session, me)
    bot = _my_bot(session, me, body.bot)
    if body.version is None:
        version = bot_repo.latest_ready_version(session, bot)
        if version is None:
            raise ApiError(409, "VERSION_NOT_READY", f"bot {bot.name!r} has no ready version yet")
    else:
        version = next((v for v in bot_repo.versions_of(session, bot) if v.version == body.version), None)
        if version is None:
            raise NotFound(f"bot {bot.name!r} has no version {body.version}", "UNKNOWN_VERSION")
    quota_repo.lock(session, me)
    quota_repo.check_entry(session, me, tournament, quotas_of(request, me))
    entry = tournament_repo.enter(session, tournament, version, me)
    session.flush()
    return EntryOut.of(entry)


def _enter_remote(request: Request, tournament: Tournament, body: EntryIn, session: Session,
                  me: Contestant) -> EntryOut:  # fmt: skip
    """A remote entry of ``body.bot`` (made on first use, within the bots quota): no version, no smoke test."""
    if body.version is not None:
        raise ApiError(422, "INVALID_REQUEST", "a remote bot has no version: leave 'version' out")
    quota_repo.lock(session, me)
    bot = bot_repo.bot_by_name(session, me, body.bot)
    if bot is None:
        quota_repo.check_upload(session, me, quotas_of(request, me), new_bot=True)
        bot = bot_repo.create_bot(session, me, body.bot)
    quota_repo.check_entry(session, me, tournament, quotas_of(request, me))
    entry = tournament_repo.enter(session, tournament, None, me, bot=bot)
    session.flush()
    return EntryOut.of(entry)


@router.get("/entries", response_model=Page[EntryOut])
def my_entries(request: Request, session: Db, me: Me, paging: Paging) -> Page[EntryOut]:
    """Your entries, oldest first; in a running tournament the status is the engine's (running, crashed, ...)
    as it runs."""
    out = []
    now: dict[int, dict[str, str]] = {}  # tournament id -> the engine's statuses, read once per tournament
    entries, after = by_id(session, select(Entry).where(Entry.contestant_id == me.id), Entry.id, paging, "entries")
    for entry in entries:
        shown = EntryOut.of(entry)
        if entry.tournament_id not in now:
            now[entry.tournament_id] = live.statuses(request.app.state.arena.redis, entry.tournament)
        shown.status = now[entry.tournament_id].get(entry.bot_key, shown.status)
        out.append(shown)
    return Page(items=out, next=after)


class KeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    api_key: str | None = None  # only in the answer that creates it


class KeyIn(BaseModel):
    name: str = Field("", max_length=64)


def _key_out(key: ApiKey, secret: str | None = None) -> KeyOut:
    return KeyOut(id=key.id, name=key.name, prefix=key.prefix, created_at=key.created_at, revoked_at=key.revoked_at,
                  last_used_at=key.last_used_at, api_key=secret)  # fmt: skip


@router.get("/keys", response_model=Page[KeyOut])
def my_keys(session: Db, me: Me, paging: Paging) -> Page[KeyOut]:
    """Your API keys, revoked ones too, oldest first (never the keys themselves: a prefix to tell them apart)."""
    keys, after = by_id(session, select(ApiKey).where(ApiKey.contestant_id == me.id), ApiKey.id, paging, "keys")
    return Page(items=[_key_out(k) for k in keys], next=after)


@router.post("/keys", status_code=201, response_model=KeyOut)
def new_key(request: Request, body: KeyIn, session: Db, me: Me) -> KeyOut:
    """A new API key, shown once in this answer (only its hash is kept). At most ``api_keys`` live keys
    (409 TOO_MANY_API_KEYS: revoke one first)."""
    quota_repo.lock(session, me)
    quota_repo.check_api_key(session, me, quotas_of(request, me))
    key, secret = accounts.create_api_key(session, me, body.name)
    session.flush()
    return _key_out(key, secret)


@router.delete("/keys/{key_id}", response_model=KeyOut)
def revoke_key(key_id: int, session: Db, me: Me) -> KeyOut:
    return _key_out(accounts.revoke_api_key(session, me, key_id))


class QuotasOut(BaseModel):
    contestant: str
    quotas: Quotas = Field(description="the limits in force: the defaults, and any an admin set")
    overrides: dict[str, int] = Field(description="the limits an admin set for this contestant")
    usage: dict[str, int] = Field(description="what the contestant holds and did, by quota (entries: per tournament)")


def quotas_out(request: Request, session: Session, who: Contestant) -> QuotasOut:
    return QuotasOut(contestant=who.name, quotas=quotas_of(request, who), overrides=who.quota_overrides or {},
                     usage=quota_repo.usage(session, who))  # fmt: skip


@router.get("/quotas", response_model=QuotasOut)
def my_quotas(request: Request, session: Db, me: Me) -> QuotasOut:
    """Your quotas and how much of each you use."""
    return quotas_out(request, session, me)
