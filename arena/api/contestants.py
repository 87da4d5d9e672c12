"""Contestants: their bots, versions (upload + smoke test), entries and results. Each sees only their own."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from arena.api.deps import Db, Me, after_commit
from arena.api.errors import ApiError
from arena.api.multipart import FILE_BODY, read_file
from arena.metrics import UPLOADS
from arena.service import live
from arena.store import accounts
from arena.store import bots as bot_repo
from arena.store import tournaments as tournament_repo
from arena.store.errors import NotFound
from arena.store.models import ApiKey, Bot, BotVersion, Entry
from arena.uploads import UploadError, validate_upload

router = APIRouter(prefix="/api/v1", tags=["contestants"])

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


class EntryOut(BaseModel):
    id: int
    tournament: str
    bot: str
    bot_key: str
    version: int
    status: str
    disqualified: bool
    end_classification: str | None

    @classmethod
    def of(cls, e: Entry) -> EntryOut:
        return cls(id=e.id, tournament=e.tournament.slug, bot=e.bot.name, bot_key=e.bot_key,
                   version=e.bot_version.version, status=e.status.value, disqualified=e.disqualified,
                   end_classification=e.end_classification)  # fmt: skip


@router.post("/bots/{name}/versions", status_code=202, response_model=VersionOut, openapi_extra=FILE_BODY)
async def upload(request: Request, name: Name, session: Db, me: Me) -> VersionOut:
    """Upload a new version of bot ``name`` (created on first upload): a .py file, or a .zip / .tar.gz with
    main.py at its root. It is stored by content hash and smoke-tested in the sandbox; poll the version for
    its verdict (pending → ready | failed). The body is read only once the caller is authenticated."""
    state = request.app.state.arena
    limits = state.upload_limits
    filename, data = await read_file(request, limits.max_upload_bytes)
    try:
        bundle = await run_in_threadpool(validate_upload, filename, data, limits)
    except UploadError as exc:
        UPLOADS.labels(outcome="rejected").inc()
        status = 413 if exc.code.value in ("upload_too_large", "unpacked_too_large") else 422
        raise ApiError(status, exc.code.value.upper(), exc.message) from None
    bot = bot_repo.bot_by_name(session, me, name) or bot_repo.create_bot(session, me, name)
    path = await run_in_threadpool(state.bundles.put, bundle)
    version = bot_repo.add_version(session, bot, sha256=bundle.sha256, size_bytes=bundle.total_bytes,
                                   file_count=bundle.file_count, storage_path=str(path))  # fmt: skip
    session.flush()
    UPLOADS.labels(outcome="accepted").inc()
    version_id = version.id
    after_commit(session, lambda: state.background.schedule_smoke_test(version_id))
    return VersionOut.of(version)


@router.get("/bots", response_model=list[BotOut])
def my_bots(session: Db, me: Me) -> list[BotOut]:
    return [BotOut(id=b.id, name=b.name, versions=[VersionOut.of(v) for v in bot_repo.versions_of(session, b)])
            for b in bot_repo.bots_of(session, me)]  # fmt: skip


def _my_bot(session: Db, me: Me, name: str) -> Bot:
    bot = bot_repo.bot_by_name(session, me, name)
    if bot is None:
        raise NotFound(f"you have no bot named {name!r}", "UNKNOWN_BOT")
    return bot


@router.get("/bots/{name}", response_model=BotOut)
def my_bot(name: Name, session: Db, me: Me) -> BotOut:
    bot = _my_bot(session, me, name)
    return BotOut(id=bot.id, name=bot.name, versions=[VersionOut.of(v) for v in bot_repo.versions_of(session, bot)])


@router.get("/bots/{name}/versions/{version}", response_model=VersionOut)
def my_version(name: Name, version: int, session: Db, me: Me) -> VersionOut:
    bot = _my_bot(session, me, name)
    found = next((v for v in bot_repo.versions_of(session, bot) if v.version == version), None)
    if found is None:
        raise NotFound(f"bot {name!r} has no version {version}", "UNKNOWN_VERSION")
    return VersionOut.of(found)


@router.post("/tournaments/{slug}/entries", status_code=201, response_model=EntryOut)
def enter(slug: str, body: EntryIn, session: Db, me: Me) -> EntryOut:
    """Enter one ready version of your bot into an open tournament."""
    tournament = tournament_repo.get_tournament(session, slug)
    bot = _my_bot(session, me, body.bot)
    if body.version is None:
        version = bot_repo.latest_ready_version(session, bot)
        if version is None:
            raise ApiError(409, "VERSION_NOT_READY", f"bot {bot.name!r} has no ready version yet")
    else:
        version = next((v for v in bot_repo.versions_of(session, bot) if v.version == body.version), None)
        if version is None:
            raise NotFound(f"bot {bot.name!r} has no version {body.version}", "UNKNOWN_VERSION")
    entry = tournament_repo.enter(session, tournament, version, me)
    session.flush()
    return EntryOut.of(entry)


@router.get("/entries", response_model=list[EntryOut])
def my_entries(request: Request, session: Db, me: Me) -> list[EntryOut]:
    """Your entries; in a running tournament the status is the engine's (running, crashed, ...) as it runs."""
    out = []
    now: dict[int, dict[str, str]] = {}  # tournament id -> the engine's statuses, read once per tournament
    for entry in tournament_repo.entries_of_contestant(session, me):
        shown = EntryOut.of(entry)
        if entry.tournament_id not in now:
            now[entry.tournament_id] = live.statuses(request.app.state.arena.redis, entry.tournament)
        shown.status = now[entry.tournament_id].get(entry.bot_key, shown.status)
        out.append(shown)
    return out


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


@router.get("/keys", response_model=list[KeyOut])
def my_keys(session: Db, me: Me) -> list[KeyOut]:
    return [_key_out(k) for k in accounts.api_keys_of(session, me)]


@router.post("/keys", status_code=201, response_model=KeyOut)
def new_key(body: KeyIn, session: Db, me: Me) -> KeyOut:
    """A new API key, shown once in this answer (only its hash is kept)."""
    key, secret = accounts.create_api_key(session, me, body.name)
    session.flush()
    return _key_out(key, secret)


@router.delete("/keys/{key_id}", response_model=KeyOut)
def revoke_key(key_id: int, session: Db, me: Me) -> KeyOut:
    return _key_out(accounts.revoke_api_key(session, me, key_id))
