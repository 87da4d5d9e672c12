"""Ratings and achievements for everyone: the global ranking (a list in the paging shape), a contestant's profile
(rating history, XP, level, badges) and what a tournament's contestants earned in it; an admin's recompute and
award. The rules are ``arena.ratings``; docs/ratings.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.api import errors
from arena.api.deps import Admin, Db
from arena.api.errors import ApiError
from arena.api.paging import Page, Paging
from arena.api.results import PUBLIC
from arena.ratings.achievements import BADGES, level_starts
from arena.service import awards
from arena.store import accounts
from arena.store import ratings as repo
from arena.store.models import Achievement, Contestant, ContestantRating, Tournament

router = APIRouter(prefix="/api/v1", tags=["ratings"], responses=errors.responses(*errors.API_ERRORS, 403, 404))

Name = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Slug = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
HISTORY_MAX = 500  # rated tournaments shown on a profile (the latest)


class RankedOut(BaseModel):
    place: int = Field(description="1 = the highest rating; equal ratings share a place")
    contestant: str
    rating: float = Field(description="shown rating: 1000 + 40 × (mu − 3 sigma)")
    mu: float = Field(description="openskill's estimate of the contestant's skill")
    sigma: float = Field(description="its uncertainty")
    tournaments: int = Field(description="rated tournaments entered")
    xp: int
    level: int
    streak: int = Field(description="rated tournaments entered in a row, up to the latest they entered")
    badges: list[str] = Field(description="codes of the badges earned")


class ChangeOut(BaseModel):
    tournament: str
    name: str
    rank: int = Field(description="the contestant's place among the tournament's contestants, by their best bot")
    contestants: int
    bot: str = Field(description="the best bot, which placed them")
    rating: float
    change: float
    mu: float
    sigma: float


class AchievementOut(BaseModel):
    code: str = Field(description="diversified, risk_manager, whale, streak_N or level_N")
    kind: str = Field(description="badge or level")
    title: str
    description: str
    contestant: str
    tournament: str = Field(description="where it was earned")
    bot: str = Field(description="the entry whose record earned it")
    detail: dict[str, Any]
    earned_at: datetime


class ProfileOut(BaseModel):
    contestant: str
    rated: bool = Field(description="false until a rated tournament placed them")
    place: int | None
    rating: float | None
    mu: float | None
    sigma: float | None
    tournaments: int
    xp: int
    level: int
    next_level_xp: int = Field(description="the XP at which the next level starts")
    streak: int
    history: list[ChangeOut] = Field(description=f"rating after each rated tournament, oldest first (the latest "
                                                 f"{HISTORY_MAX})")  # fmt: skip
    achievements: list[AchievementOut]


class RecomputedOut(BaseModel):
    tournaments: int = Field(description="rated tournaments replayed")


class AwardedOut(BaseModel):
    tournament: str
    rated: bool = Field(description="false: nothing to do (rated before, not finished, or no standings)")
    ratings: dict[str, float] = Field(description="contestant → new rating")
    xp: dict[str, int] = Field(description="contestant → XP from this tournament")
    earned: list[str] = Field(description="contestant:code of each achievement earned")


def achievement_out(a: Achievement, contestant: str, tournament: str) -> AchievementOut:
    badge = BADGES.get(a.code)
    if badge is not None:
        kind, title, description = "badge", badge.title, badge.description
    else:
        lvl = a.code.removeprefix("level_")
        kind, title, description = "level", f"Level {lvl}", f"reached level {lvl}"
    return AchievementOut(code=a.code, kind=kind, title=title, description=description, contestant=contestant,
                          tournament=tournament, bot=a.bot_key, detail=a.detail or {},
                          earned_at=a.earned_at)  # fmt: skip


@router.get("/ratings", response_model=Page[RankedOut])
def ranking(session: Db, paging: Paging) -> Page[RankedOut]:
    """Every rated contestant, the highest rating first (ties by who was rated first)."""
    after = paging.after("ratings", (float, int))
    rows = repo.ranking(session, (after[0], after[1]) if after else None, paging.limit + 1)
    shown, cursor = paging.page("ratings", rows, lambda row: (row[0].rating, row[0].contestant_id))
    if not shown:
        return Page(items=[], next=None)
    badges = repo.badges_of(session, [r.contestant_id for r, _ in shown], BADGES)
    # Competition places (1, 2, 2, 4): a tie shares the place of its first row, which may be on an earlier page.
    first_place, first_position = repo.place_of(session, shown[0][0]), repo.position_of(session, shown[0][0])
    items: list[RankedOut] = []
    for i, (r, name) in enumerate(shown):
        place = items[-1].place if items and items[-1].rating == r.rating else first_position + i
        place = first_place if i == 0 else place
        items.append(RankedOut(place=place, contestant=name, rating=r.rating, mu=r.mu, sigma=r.sigma,
                               tournaments=r.tournaments, xp=r.xp, level=r.level, streak=r.streak,
                               badges=badges[r.contestant_id]))  # fmt: skip
    return Page(items=items, next=cursor)


def _contestant(session: Session, name: str) -> Contestant:
    who = accounts.contestant_by_name(session, name)
    if who is None:
        raise ApiError(404, "UNKNOWN_CONTESTANT", f"no contestant {name!r}")
    return who


@router.get("/contestants/{name}/profile", response_model=ProfileOut)
def profile(name: Name, session: Db) -> ProfileOut:
    """A contestant's rating, place, rating history, XP, level and achievements (public, as their bots' keys are)."""
    who = _contestant(session, name)
    r: ContestantRating | None = repo.rating_of(session, who.id)
    history = [
        ChangeOut(tournament=slug, name=t_name, rank=c.rank, contestants=c.contestants, bot=c.bot_key,
                  rating=c.rating, change=c.change, mu=c.mu, sigma=c.sigma)
        for c, slug, t_name in repo.history_of(session, who.id, HISTORY_MAX)
    ]  # fmt: skip
    earned = [achievement_out(a, who.name, slug) for a, slug in repo.achievements_of(session, who.id)]
    level = r.level if r else 1
    return ProfileOut(
        contestant=who.name, rated=r is not None, place=repo.place_of(session, r) if r else None,
        rating=r.rating if r else None, mu=r.mu if r else None, sigma=r.sigma if r else None,
        tournaments=r.tournaments if r else 0, xp=r.xp if r else 0, level=level, next_level_xp=level_starts(level + 1),
        streak=r.streak if r else 0, history=history, achievements=earned,
    )  # fmt: skip


def _public(session: Session, slug: str) -> Tournament:
    t = session.scalar(select(Tournament).where(Tournament.slug == slug))
    if t is None or t.status not in PUBLIC:
        raise ApiError(404, "UNKNOWN_TOURNAMENT", f"no tournament {slug!r}")
    return t


@router.get("/tournaments/{slug}/achievements", response_model=Page[AchievementOut])
def earned_in(slug: Slug, session: Db, paging: Paging) -> Page[AchievementOut]:
    """The achievements the tournament's contestants earned in it, in the order earned (empty until it is rated)."""
    t = _public(session, slug)
    after = paging.after("achievements", (int,))
    rows = repo.achievements_in(session, t.id, after[0] if after else 0, paging.limit + 1)
    shown, cursor = paging.page("achievements", rows, lambda row: (row[0].id,))
    return Page(items=[achievement_out(a, name, t.slug) for a, name in shown], next=cursor)


@router.post("/admin/ratings/recompute", response_model=RecomputedOut, tags=["admin"])
def recompute(session: Db, _: Admin) -> RecomputedOut:
    """Rebuild every rating and the rating history from the rated tournaments' standings, in their rating order."""
    return RecomputedOut(tournaments=awards.recompute(session))


@router.post("/admin/tournaments/{slug}/award", response_model=AwardedOut, tags=["admin"])
def award(slug: Slug, session: Db, _: Admin) -> AwardedOut:
    """Give a finished tournament its awards now, if it has none yet (its finish does; this is for one whose awards
    failed). A tournament rated before is left as it is (``rated`` false)."""
    t = _public(session, slug)
    done = awards.award(session, t.id)
    if done is None:
        return AwardedOut(tournament=t.slug, rated=False, ratings={}, xp={}, earned=[])
    names = repo.names_of(session, done.xp)
    return AwardedOut(tournament=t.slug, rated=True, ratings={names[c]: v for c, v in done.ratings.items()},
                      xp={names[c]: v for c, v in done.xp.items()},
                      earned=[f"{names[c]}:{code}" for c, code in done.earned])  # fmt: skip
