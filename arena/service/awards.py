"""Awards: what a finished tournament gives its contestants, once, from its record: a rating update (openskill,
``arena.ratings.skill``), XP, levels and badges (``arena.ratings.achievements``), and an ``achievement.earned``
webhook for each badge or level earned.

``award_tournament`` runs when a tournament finishes (``arena.service.runs.finish_tournament``). All of it is one
transaction, which also writes the tournament's ``rated_tournaments`` row; a tournament with that row is never
rated again, so the finish running twice (a takeover, a restart) changes nothing the second time. Updates are
serialised (``arena.store.ratings.lock``), so two tournaments finishing at once do not lose each other's update;
their order in ``rated_tournaments`` is the rating order, which ``recompute`` replays.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from arena.catalog import load_catalog, reference_usd_multiplier
from arena.engine.instruments import InstrumentCatalog
from arena.ratings import achievements as rules
from arena.ratings.skill import NEWCOMER, Placing, Skill, placings, rate
from arena.settings import Settings
from arena.store import ratings as repo
from arena.store import tournaments as tournament_repo
from arena.store import webhooks as webhook_repo
from arena.store.models import (
    Achievement,
    ContestantRating,
    RatedTournament,
    RatingChange,
    Tournament,
    TournamentStatus,
    XpAward,
)
from arena.store.types import utcnow
from arena.webhooks.events import ACHIEVEMENT_EARNED, WebhookEvent, derived_event_id

log = logging.getLogger("arena.awards")


@dataclass
class Awarded:
    """What one tournament's awards did: each contestant's new rating and XP, and the achievements earned."""

    tournament: str
    ratings: dict[int, float] = field(default_factory=dict)  # contestant id → displayed rating
    xp: dict[int, int] = field(default_factory=dict)  # contestant id → XP from this tournament
    earned: list[tuple[int, str]] = field(default_factory=list)  # (contestant id, achievement code)


def award_tournament(sessions: sessionmaker[Session], tournament_id: int, *, whale_notional: float | None = None,
                     catalog: InstrumentCatalog | None = None) -> Awarded | None:  # fmt: skip
    """Rate finished tournament ``tournament_id`` and award its achievements, in one transaction of its own."""
    with sessions.begin() as session:
        return award(session, tournament_id, whale_notional=whale_notional, catalog=catalog)


def award(session: Session, tournament_id: int, *, whale_notional: float | None = None,
          catalog: InstrumentCatalog | None = None) -> Awarded | None:  # fmt: skip
    """``award_tournament`` in the caller's transaction. None when there is nothing to do: the tournament is not
    finished, it was rated already, or no (not disqualified) entry has a standing. ``whale_notional``: default
    ``ARENA_WHALE_NOTIONAL``; ``catalog``: default the packaged one, which tournaments run with."""
    whale = whale_notional if whale_notional is not None else Settings().whale_notional
    sectors, multipliers = _instrument_facts(catalog) if catalog is not None else _default_instrument_facts()
    repo.lock(session)
    return apply(session, tournament_id, sectors, multipliers, whale)


def _instrument_facts(catalog: InstrumentCatalog) -> tuple[dict[str, str], dict[str, float]]:
    """symbol → sector, and symbol → contract multiplier in USD (a cross's quote currency at its reference rate)."""
    return ({symbol: catalog[symbol].sector for symbol in catalog},
            {symbol: reference_usd_multiplier(catalog, catalog[symbol]) for symbol in catalog})  # fmt: skip


@functools.cache
def _default_instrument_facts() -> tuple[dict[str, str], dict[str, float]]:
    return _instrument_facts(load_catalog())  # the catalog tournaments run with (arena.service.runs)


def apply(session: Session, tournament_id: int, sector_of: Mapping[str, str], multiplier_of: Mapping[str, float],
          whale_notional: float) -> Awarded | None:  # fmt: skip
    """``award_tournament``'s work in the caller's transaction (which holds ``repo.lock``)."""
    t = tournament_repo.get_tournament(session, tournament_id)
    if t.status is not TournamentStatus.FINISHED or repo.is_rated(session, t.id):
        return None
    entries = repo.placed_entries(session, t.id)
    if not entries:
        return None
    places = placings((e.contestant_id, e.bot_key, e.rank) for e in entries)
    rated = RatedTournament(tournament_id=t.id, contestants=len(places))
    session.add(rated)
    session.flush()
    done = Awarded(t.slug)
    rows = _rate(session, rated, t, places)
    earned = _badges(session, t.id, entries, sector_of, multiplier_of, whale_notional)
    previous = repo.previous_rated(session, rated.id)
    finished = {e.contestant_id for e in entries if e.finished}
    for place in places:
        row = rows[place.contestant]
        _entered(row, rated.id, previous)
        parts = rules.tournament_xp(place.rank, len(places), place.contestant in finished)
        xp = sum(parts.values())
        session.add(XpAward(contestant_id=place.contestant, tournament_id=t.id, xp=xp, parts=parts))
        old_level, row.xp = row.level, row.xp + xp
        row.level = rules.level(row.xp)
        mine = earned.setdefault(place.contestant, {})
        for badge in rules.streak_badges(row.streak, place.bot):
            mine.setdefault(badge.code, badge)
        for lvl in range(old_level + 1, row.level + 1):
            mine.setdefault(f"level_{lvl}", rules.Earned(f"level_{lvl}", place.bot, {"level": lvl, "xp": row.xp}))
        done.ratings[place.contestant], done.xp[place.contestant] = row.rating, xp
    had = repo.codes_of(session, earned)
    for contestant, badges in earned.items():
        for code, badge in badges.items():
            if (contestant, code) in had:
                continue  # earned once, in an earlier tournament
            session.add(Achievement(contestant_id=contestant, code=code, tournament_id=t.id, bot_key=badge.bot,
                                    detail=badge.detail))  # fmt: skip
            _announce(session, t, contestant, badge, rows[contestant])
            done.earned.append((contestant, code))
    session.flush()
    log.info("tournament %s rated: %d contestants, %d achievements", t.slug, len(places), len(done.earned))
    return done


def _rate(session: Session, rated: RatedTournament, t: Tournament,
          places: list[Placing]) -> dict[int, ContestantRating]:  # fmt: skip
    """Update the placed contestants' ratings (a newcomer's row is created) and write their rating history."""
    rows = repo.ratings_of(session, (p.contestant for p in places))
    before = {c: Skill(r.mu, r.sigma) for c, r in rows.items()}
    after = rate(before, places)
    now = utcnow()
    for place in places:
        row = rows.get(place.contestant)
        if row is None:
            row = rows[place.contestant] = ContestantRating(
                contestant_id=place.contestant, mu=NEWCOMER.mu, sigma=NEWCOMER.sigma, rating=NEWCOMER.display,
                tournaments=0, xp=0, level=1, streak=0)  # fmt: skip
            session.add(row)
        skill, old = after[place.contestant], row.rating
        row.mu, row.sigma, row.rating, row.updated_at = skill.mu, skill.sigma, skill.display, now
        row.tournaments += 1
        session.add(RatingChange(contestant_id=place.contestant, tournament_id=t.id, rated_id=rated.id,
                                 rank=place.rank, contestants=len(places), bot_key=place.bot, mu=skill.mu,
                                 sigma=skill.sigma, rating=skill.display,
                                 change=round(skill.display - old, 2)))  # fmt: skip
    return rows


def _entered(row: ContestantRating, rated_id: int, previous: int | None) -> None:
    """The contestant entered rated tournament ``rated_id``: their streak goes on if they entered the one before
    (``previous``), else starts again at 1."""
    row.streak = row.streak + 1 if previous is not None and row.last_rated_id == previous else 1
    row.last_rated_id = rated_id


def _badges(session: Session, tournament_id: int, entries: list[repo.Placed], sector_of: Mapping[str, str],
            multiplier_of: Mapping[str, float],
            whale_notional: float) -> dict[int, dict[str, rules.Earned]]:  # fmt: skip
    """contestant → code → the first of their entries (best placed first) whose record earns that badge."""
    summary = repo.fill_summary(session, tournament_id)
    out: dict[int, dict[str, rules.Earned]] = {}
    for e in entries:
        traded = summary.get(e.entry_id, [])
        # Only an entry that traded in enough sectors can have held enough at once: replay only those.
        spread = {sector_of.get(symbol, symbol) for symbol, _, _ in traded}
        at_once = (rules.sectors_at_once(repo.fills_in_order(session, e.entry_id), sector_of)
                   if len(spread) >= rules.DIVERSIFIED_SECTORS else len(spread))  # fmt: skip
        facts = rules.EntryFacts(
            bot=e.bot_key, finished=e.finished, max_drawdown=e.max_drawdown, fills=sum(n for _, n, _ in traded),
            sectors_at_once=at_once,
            largest_fill=max((big * multiplier_of.get(symbol, 1.0) for symbol, _, big in traded), default=0.0),
        )  # fmt: skip
        for badge in rules.entry_badges(facts, whale_notional):
            out.setdefault(e.contestant_id, {}).setdefault(badge.code, badge)
    return out


def _announce(session: Session, t: Tournament, contestant: int, badge: rules.Earned, row: ContestantRating) -> None:
    """Queue ``achievement.earned`` for each of the contestant's endpoints that wants it. The event id derives from
    (contestant, code), which is earned once: the same fact always has the same id."""
    endpoints = webhook_repo.subscribers(session, contestant, ACHIEVEMENT_EARNED)
    if not endpoints:
        return
    when = int((t.finished_at or utcnow()).timestamp() * 1000)
    info = rules.BADGES.get(badge.code)
    title = info.title if info else f"Level {badge.code.removeprefix('level_')}"
    data = {"achievement": badge.code, "kind": "badge" if info else "level", "title": title,
            "description": info.description if info else "reached a new level", "detail": badge.detail,
            "xp": row.xp, "level": row.level}  # fmt: skip
    event = WebhookEvent(derived_event_id(when, "achievement", contestant, badge.code), ACHIEVEMENT_EARNED, when,
                         t.slug, badge.bot, data)  # fmt: skip
    for endpoint in endpoints:
        webhook_repo.enqueue(session, endpoint, event.id, event.type, event.as_dict())


def recompute(session: Session) -> int:
    """Rebuild every rating and the rating history by replaying the rated tournaments in rating order from their
    standings on record (XP, levels and achievements stay: each was awarded once), in the caller's transaction.
    Returns the tournaments replayed."""
    repo.lock(session)
    session.execute(delete(RatingChange))
    existing = list(session.scalars(select(ContestantRating)))
    for row in existing:  # back to a newcomer's rating (XP and level stay)
        row.mu, row.sigma, row.rating = NEWCOMER.mu, NEWCOMER.sigma, NEWCOMER.display
        row.tournaments, row.streak, row.last_rated_id = 0, 0, None
    order = list(session.scalars(select(RatedTournament).order_by(RatedTournament.id)))
    previous: int | None = None
    for rated in order:
        t = tournament_repo.get_tournament(session, rated.tournament_id)
        places = placings((e.contestant_id, e.bot_key, e.rank) for e in repo.placed_entries(session, t.id))
        rows = _rate(session, rated, t, places)
        for place in places:
            _entered(rows[place.contestant], rated.id, previous)
        session.flush()
        previous = rated.id
    for row in existing:
        if row.tournaments == 0:  # placed in no rated tournament now (its entries were disqualified since)
            session.delete(row)
    return len(order)

