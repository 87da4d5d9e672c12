"""What the admin dashboard reads: a tournament with its entrants' live state, recent uploads, contestants."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from arena.api import errors
from arena.api.admin import Slug, TournamentOut
from arena.api.contestants import VersionOut
from arena.api.deps import Admin, Db
from arena.api.paging import Page, Paging, by_id
from arena.api.results import Schedule
from arena.service import live
from arena.service.live import Progress, Usage
from arena.store import tournaments as repo
from arena.store.models import Bot, BotVersion, Contestant, Entry, TournamentStatus

router = APIRouter(prefix="/api/v1/admin", tags=["admin"], responses=errors.responses(*errors.API_ERRORS, 403, 404))


class EntrantOut(BaseModel):
    id: int
    bot_key: str
    bot: str
    version: int | None  # None: a remote bot
    contestant: str
    status: str
    disqualified: bool
    end_classification: str | None
    end_reason: str
    usage: Usage | None = Field(description="live CPU and memory use while it runs; the final figures after")


class TournamentDetail(TournamentOut, Schedule):
    symbols: list[str] | None
    interval_s: int
    tick_deadline_s: float
    limits: dict[str, Any]
    progress: Progress | None
    entrants: list[EntrantOut]


class UploadOut(VersionOut):
    owner: str


class ContestantRow(BaseModel):
    id: int
    name: str
    email: str | None
    is_admin: bool
    created_at: datetime


def _final_usage(entry: Entry) -> Usage | None:
    used = entry.resource_use or {}
    if not used:
        return None
    return Usage(cpu_percent=None, cpu_seconds=used.get("cpu_seconds"), memory_bytes=None,
                 peak_memory_bytes=used.get("peak_memory_bytes"), at=entry.created_at.timestamp())  # fmt: skip


def _entrant(e: Entry, usage: Usage | None, status: str | None) -> EntrantOut:
    return EntrantOut(
        id=e.id, bot_key=e.bot_key, bot=e.bot.name, version=e.bot_version.version if e.bot_version else None,
        contestant=e.bot.owner.name,
        status=status or e.status.value, disqualified=e.disqualified, end_classification=e.end_classification,
        end_reason=e.end_reason, usage=usage,
    )  # fmt: skip


def _usage(entry: Entry, running: dict[str, Usage], live_first: bool) -> Usage | None:
    """While the tournament runs, the latest sample; once it is over, the figures recorded at the bot's end."""
    if live_first:
        return running.get(entry.bot_key) or _final_usage(entry)
    return _final_usage(entry) or running.get(entry.bot_key)


@router.get("/tournaments/{slug}", response_model=TournamentDetail)
def tournament(request: Request, slug: Slug, session: Db, _: Admin) -> TournamentDetail:
    t = repo.get_tournament(session, slug)
    client = request.app.state.arena.redis
    running = live.usage(client, t.slug)
    is_running = t.status is TournamentStatus.RUNNING
    now = live.statuses(client, t)
    entrants = [
        _entrant(e, _usage(e, running, is_running), now.get(e.bot_key)) for e in sorted(t.entries, key=lambda e: e.id)
    ]
    return TournamentDetail(
        **TournamentOut.of(t).model_dump(),
        **{k: getattr(t, k) for k in ("symbols", "interval_s", "tick_deadline_s", "limits")},
        **Schedule.fields_of(t),
        progress=live.progress(client, t.slug, t.ticks),
        entrants=entrants,
    )  # fmt: skip


@router.get("/uploads", response_model=Page[UploadOut])
def uploads(session: Db, _: Admin, paging: Paging) -> Page[UploadOut]:
    """The uploads of every contestant, newest first, with their smoke-test verdicts."""
    query = select(BotVersion).options(selectinload(BotVersion.bot).selectinload(Bot.owner))
    versions, after = by_id(session, query, BotVersion.id, paging, "uploads", newest_first=True)
    return Page(items=[UploadOut(**VersionOut.of(v).model_dump(), owner=v.bot.owner.name) for v in versions],
                next=after)  # fmt: skip


@router.get("/contestants", response_model=Page[ContestantRow])
def contestants(session: Db, _: Admin, paging: Paging) -> Page[ContestantRow]:
    """Every contestant, oldest first."""
    rows, after = by_id(session, select(Contestant), Contestant.id, paging, "contestants")
    return Page(items=[ContestantRow(id=c.id, name=c.name, email=c.email, is_admin=c.is_admin,
                                     created_at=c.created_at) for c in rows], next=after)  # fmt: skip
