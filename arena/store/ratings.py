"""Ratings and achievements on record (models in ``arena.store.models``; the rules in ``arena.ratings``; applied
by ``arena.service.awards``): what a finished tournament's record says for them, and the readers of the ranking,
a contestant's rating history, XP and badges.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from arena.store.models import (
    Achievement,
    Contestant,
    ContestantRating,
    Entry,
    EntryStatus,
    FillRecord,
    RatedTournament,
    RatingChange,
    StandingRecord,
    Tournament,
)

_LOCK_KEY = 0x4152454E41  # "ARENA": the advisory lock that serialises rating updates on PostgreSQL


def lock(session: Session) -> None:
    """Serialise rating updates: each reads contestants' ratings and writes them back, so two tournaments finishing
    at once must not interleave. PostgreSQL: a transaction-scoped advisory lock; SQLite's write transactions
    (BEGIN IMMEDIATE, ``arena.store.db``) are serial already."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


@dataclass(frozen=True)
class Placed:
    """One entry's final standing, as a finished tournament's record has it."""

    entry_id: int
    contestant_id: int
    bot_key: str
    rank: int
    max_drawdown: float
    finished: bool


def placed_entries(session: Session, tournament_id: int) -> list[Placed]:
    """The tournament's standings with each entry's owner, leaving out disqualified entries (they take no part in
    ratings or achievements), best first."""
    rows = session.execute(
        select(Entry.id, Entry.contestant_id, Entry.bot_key, StandingRecord.rank, StandingRecord.max_drawdown,
               Entry.status)
        .join(Entry, Entry.id == StandingRecord.entry_id)
        .where(StandingRecord.tournament_id == tournament_id, Entry.disqualified.is_(False))
        .order_by(StandingRecord.rank, Entry.id)
    )  # fmt: skip
    return [Placed(e, c, key, rank, dd, status is EntryStatus.FINISHED) for e, c, key, rank, dd, status in rows]


def fill_summary(session: Session, tournament_id: int) -> dict[int, list[tuple[str, int, float]]]:
    """entry id → (symbol, fills, largest qty × price) per symbol it traded in the tournament."""
    rows = session.execute(
        select(FillRecord.entry_id, FillRecord.symbol, func.count(), func.max(FillRecord.qty * FillRecord.price))
        .where(FillRecord.tournament_id == tournament_id)
        .group_by(FillRecord.entry_id, FillRecord.symbol)
    )
    out: dict[int, list[tuple[str, int, float]]] = {}
    for entry_id, symbol, count, largest in rows:
        out.setdefault(entry_id, []).append((symbol, int(count), float(largest or 0.0)))
    return out


def fills_in_order(session: Session, entry_id: int) -> Iterable[tuple[str, str, float]]:
    """(symbol, side, qty) of an entry's fills in the order they happened."""
    query = select(FillRecord.symbol, FillRecord.side, FillRecord.qty).where(FillRecord.entry_id == entry_id)
    for symbol, side, qty in session.execute(query.order_by(FillRecord.id)):
        yield symbol, str(side), float(qty)


def is_rated(session: Session, tournament_id: int) -> bool:
    return session.scalar(select(RatedTournament.id).where(RatedTournament.tournament_id == tournament_id)) is not None


def previous_rated(session: Session, rated_id: int) -> int | None:
    """The rated tournament before ``rated_id`` in rating order (ids may skip: PostgreSQL sequences do)."""
    return session.scalar(select(func.max(RatedTournament.id)).where(RatedTournament.id < rated_id))


def ratings_of(session: Session, contestant_ids: Iterable[int]) -> dict[int, ContestantRating]:
    ids = list(contestant_ids)
    query = select(ContestantRating).where(ContestantRating.contestant_id.in_(ids))
    return {r.contestant_id: r for r in session.scalars(query)}


def codes_of(session: Session, contestant_ids: Iterable[int]) -> set[tuple[int, str]]:
    """(contestant, achievement code) of what the contestants have earned so far."""
    ids = list(contestant_ids)
    query = select(Achievement.contestant_id, Achievement.code).where(Achievement.contestant_id.in_(ids))
    return {(c, code) for c, code in session.execute(query)}


# -- readers ------------------------------------------------------------------------------------------


def badges_of(session: Session, contestant_ids: Iterable[int], badges: Iterable[str]) -> dict[int, list[str]]:
    """contestant → the codes among ``badges`` they have earned, in the order earned."""
    ids = list(contestant_ids)
    query = select(Achievement.contestant_id, Achievement.code).where(
        Achievement.contestant_id.in_(ids), Achievement.code.in_(list(badges))
    )
    out: dict[int, list[str]] = {c: [] for c in ids}
    for contestant_id, code in session.execute(query.order_by(Achievement.id)):
        out[contestant_id].append(code)
    return out


def names_of(session: Session, contestant_ids: Iterable[int]) -> dict[int, str]:
    query = select(Contestant.id, Contestant.name).where(Contestant.id.in_(list(contestant_ids)))
    return {c: name for c, name in session.execute(query)}


def ranking(session: Session, after: tuple[float, int] | None, limit: int) -> list[tuple[ContestantRating, str]]:
    """(rating, contestant name) best first (rating descending, then contestant id), after the key ``after``."""
    query = select(ContestantRating, Contestant.name).join(Contestant, Contestant.id == ContestantRating.contestant_id)
    if after is not None:
        rating, contestant_id = after
        tie = and_(ContestantRating.rating == rating, ContestantRating.contestant_id > contestant_id)
        query = query.where(or_(ContestantRating.rating < rating, tie))
    query = query.order_by(ContestantRating.rating.desc(), ContestantRating.contestant_id).limit(limit)
    return [(r, name) for r, name in session.execute(query)]


def place_of(session: Session, row: ContestantRating) -> int:
    """A rated contestant's place in the ranking (1 = best; equal ratings share a place, the next skips)."""
    better = select(func.count()).select_from(ContestantRating).where(ContestantRating.rating > row.rating)
    return int(session.scalar(better) or 0) + 1


def position_of(session: Session, row: ContestantRating) -> int:
    """A rated contestant's row number in the ranking's order (rating descending, then contestant id), from 1."""
    tie = and_(ContestantRating.rating == row.rating, ContestantRating.contestant_id < row.contestant_id)
    before = select(func.count()).select_from(ContestantRating).where(or_(ContestantRating.rating > row.rating, tie))
    return int(session.scalar(before) or 0) + 1


def rating_of(session: Session, contestant_id: int) -> ContestantRating | None:
    return session.get(ContestantRating, contestant_id)


def history_of(session: Session, contestant_id: int, limit: int = 500) -> list[tuple[RatingChange, str, str]]:
    """(change, tournament slug, tournament name), the latest ``limit`` in rating order (oldest first)."""
    query = (
        select(RatingChange, Tournament.slug, Tournament.name)
        .join(Tournament, Tournament.id == RatingChange.tournament_id)
        .where(RatingChange.contestant_id == contestant_id)
        .order_by(RatingChange.rated_id.desc())
        .limit(limit)
    )
    return [(c, slug, name) for c, slug, name in reversed(session.execute(query).all())]


def achievements_of(session: Session, contestant_id: int) -> list[tuple[Achievement, str]]:
    """(achievement, tournament slug where earned), in the order earned."""
    query = (
        select(Achievement, Tournament.slug)
        .join(Tournament, Tournament.id == Achievement.tournament_id)
        .where(Achievement.contestant_id == contestant_id)
        .order_by(Achievement.id)
    )
    return [(a, slug) for a, slug in session.execute(query)]


def achievements_in(session: Session, tournament_id: int, after_id: int = 0,
                    limit: int = 500) -> list[tuple[Achievement, str]]:  # fmt: skip
    """(achievement, contestant name) earned in one tournament, in the order earned, after ``after_id``."""
    query = (
        select(Achievement, Contestant.name)
        .join(Contestant, Contestant.id == Achievement.contestant_id)
        .where(Achievement.tournament_id == tournament_id, Achievement.id > after_id)
        .order_by(Achievement.id)
        .limit(limit)
    )
    return [(a, name) for a, name in session.execute(query)]
