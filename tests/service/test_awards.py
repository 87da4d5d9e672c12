"""Ratings and achievements from finished tournaments' records (arena.service.awards), on SQLite and PostgreSQL:
the winner's rating rises, a tournament rates once however often it finishes (twice in a row, twice at once),
the ratings recompute from the history, each badge is earned from the record (and not without it), once, with an
``achievement.earned`` webhook queued for its owner."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from arena.engine.ranking import competition_ranks
from arena.ratings import achievements as rules
from arena.runtime.tournament import Standing
from arena.service.awards import award_tournament, recompute
from arena.service.recorder import Recorder
from arena.service.runs import finish_tournament, run_tournament
from arena.store import accounts, bots, record, tournaments
from arena.store import ratings as repo
from arena.store.models import (
    ContestantRating,
    EntryStatus,
    FillRecord,
    RatedTournament,
    RatingChange,
    TournamentStatus,
    VersionStatus,
    WebhookDelivery,
    XpAward,
)
from arena.store.webhooks import create_webhook

_orders = itertools.count(1)


@dataclass
class Line:
    """One entry of a hand-made tournament: its owner, bot, final score and max drawdown, and whether it ran to
    the end; ``fills``: (symbol, side, qty, price) in the order they happened."""

    owner: str
    bot: str
    score: float
    drawdown: float = 0.05
    finished: bool = True
    fills: tuple[tuple[str, str, float, float], ...] = ()


def running(sessions: sessionmaker[Session], slug: str, lines: list[Line]) -> int:
    """A running tournament whose record holds ``lines``' fills and final standings (what the Recorder writes)."""
    with sessions.begin() as session:
        t = tournaments.create_tournament(session, slug, f"Cup {slug}")
        tournaments.transition(session, t, TournamentStatus.OPEN)
        entries = {}
        for line in lines:
            owner = accounts.contestant_by_name(session, line.owner) or accounts.create_contestant(session, line.owner)
            bot = bots.bot_by_name(session, owner, line.bot) or bots.create_bot(session, owner, line.bot)
            version = bot.versions[0] if bot.versions else None
            if version is None:
                version = bots.add_version(session, bot, sha256=hashlib.sha256(line.bot.encode()).hexdigest(),
                                           size_bytes=1, file_count=1, storage_path="blobs/x")  # fmt: skip
                bots.set_version_verdict(session, version, VersionStatus.READY, "ok")
            entries[line.bot] = tournaments.enter(session, t, version, owner)
        tournaments.transition(session, t, TournamentStatus.RUNNING)
        session.flush()
        keys = {line.bot: entries[line.bot].bot_key for line in lines}
        for line in lines:
            entry = entries[line.bot]
            entry.status = EntryStatus.FINISHED if line.finished else EntryStatus.OUT
            for ts, (symbol, side, qty, price) in enumerate(line.fills):
                session.add(FillRecord(tournament_id=t.id, entry_id=entry.id, order_id=next(_orders), ts=ts,
                                       symbol=symbol, side=side, qty=qty, price=price, fee=0.0, maker=False,
                                       filled_qty=qty, remaining=0.0))  # fmt: skip
        ranks = {r.bot: r.rank for r in competition_ranks({keys[x.bot]: x.score for x in lines})}
        standings = [Standing(keys[x.bot], ranks[keys[x.bot]], x.score, x.score, x.drawdown, "finished")
                     for x in lines]  # fmt: skip
        record.record_standings(session, t, {keys[x.bot]: entries[x.bot].id for x in lines}, standings)
        return t.id


def finish(sessions: sessionmaker[Session], tournament_id: int) -> None:
    """The service's own finish: the record closed, the tournament finished, its awards given."""
    recorder = Recorder(sessions, tournament_id, fresh=False)
    recorder.close()
    finish_tournament(sessions, tournament_id, recorder)


def finished(sessions: sessionmaker[Session], slug: str, lines: list[Line]) -> int:
    t_id = running(sessions, slug, lines)
    finish(sessions, t_id)
    return t_id


def rating(sessions: sessionmaker[Session], name: str) -> ContestantRating | None:
    with sessions() as session:
        who = accounts.contestant_by_name(session, name)
        return repo.rating_of(session, who.id) if who else None


def codes(sessions: sessionmaker[Session], name: str) -> list[str]:
    with sessions() as session:
        who = accounts.contestant_by_name(session, name)
        return [a.code for a, _ in repo.achievements_of(session, who.id)]


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)))


THREE = [Line("ann", "a", 3.0), Line("bob", "b", 2.0), Line("cy", "c", 1.0)]


def test_the_winner_rises_the_last_falls_and_each_is_on_record(sessions) -> None:
    t_id = finished(sessions, "cup-1", THREE)
    ann, bob, cy = (rating(sessions, n) for n in ("ann", "bob", "cy"))
    assert ann.rating > bob.rating > cy.rating  # from the same start (newcomers, 1000)
    assert ann.mu > 25.0 > cy.mu and ann.tournaments == bob.tournaments == cy.tournaments == 1
    with sessions() as session:
        history = repo.history_of(session, ann.contestant_id)
    assert [(c.rank, c.contestants, c.bot_key, slug) for c, slug, _ in history] == [(1, 3, "ann:a", "cup-1")]
    assert history[0][0].rating == ann.rating and history[0][0].change == pytest.approx(ann.rating - 1000.0)
    # XP: 100 entered + 50 finished + the place (100 for the winner, 50 the middle, 0 the last).
    assert (ann.xp, bob.xp, cy.xp) == (250, 200, 150) and (ann.level, bob.level, cy.level) == (2, 2, 2)
    with sessions() as session:
        assert session.scalar(select(RatedTournament.contestants).where(RatedTournament.tournament_id == t_id)) == 3

    # The order counts: the same three, the other way round, bring the last one up past the first one's new rating.
    finished(sessions, "cup-2", [Line("ann", "a", 1.0), Line("bob", "b", 2.0), Line("cy", "c", 3.0)])
    assert rating(sessions, "cy").rating > cy.rating and rating(sessions, "ann").rating < ann.rating


def test_a_contestant_places_by_their_best_bot_and_disqualified_entries_take_no_part(sessions) -> None:
    t_id = running(sessions, "multi", [Line("ann", "a1", 1.0), Line("bob", "b", 2.0), Line("ann", "a2", 3.0),
                                       Line("cy", "c", 0.5)])  # fmt: skip
    with sessions.begin() as session:
        entry = next(e for e in tournaments.entries_of(session, tournaments.get_tournament(session, t_id))
                     if e.bot_key == "cy:c")  # fmt: skip
        tournaments.disqualify(session, entry)
    finish(sessions, t_id)
    with sessions() as session:
        rows = {c.bot_key: (c.rank, c.contestants) for c in session.scalars(select(RatingChange))}
    assert rows == {"ann:a2": (1, 2), "bob:b": (2, 2)}  # one line per contestant, cy not rated
    assert rating(sessions, "cy") is None


def test_a_tournament_rates_once_however_often_it_finishes(sessions) -> None:
    t_id = running(sessions, "twice", THREE)
    finish(sessions, t_id)
    once = {n: (rating(sessions, n).mu, rating(sessions, n).xp) for n in ("ann", "bob", "cy")}
    finish(sessions, t_id)  # a takeover or a restart finishing it again
    assert award_tournament(sessions, t_id) is None
    assert {n: (rating(sessions, n).mu, rating(sessions, n).xp) for n in ("ann", "bob", "cy")} == once
    assert count(sessions, RatedTournament) == 1
    assert count(sessions, RatingChange) == 3 and count(sessions, XpAward) == 3


def test_two_finishes_at_once_rate_once(sessions) -> None:
    t_id = running(sessions, "race", THREE)
    with sessions.begin() as session:
        tournaments.transition(session, tournaments.get_tournament(session, t_id), TournamentStatus.FINISHED)
    results: list[object] = []
    go = threading.Barrier(4)

    def award() -> None:
        go.wait()
        results.append(award_tournament(sessions, t_id))

    threads = [threading.Thread(target=award) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(results) == 4 and sum(r is not None for r in results) == 1
    assert count(sessions, RatedTournament) == 1 and count(sessions, RatingChange) == 3


def test_failed_and_unfinished_tournaments_do_not_rate(sessions) -> None:
    t_id = running(sessions, "broken", THREE)
    assert award_tournament(sessions, t_id) is None  # still running
    with sessions.begin() as session:
        tournaments.transition(session, tournaments.get_tournament(session, t_id), TournamentStatus.FAILED,
                               reason="its engine died")  # fmt: skip
    assert award_tournament(sessions, t_id) is None
    assert count(sessions, RatedTournament) == 0 and rating(sessions, "ann") is None


def test_ratings_recompute_from_the_history_in_tournament_order(sessions) -> None:
    finished(sessions, "r1", THREE)
    finished(sessions, "r2", [Line("ann", "a", 1.0), Line("cy", "c", 5.0)])
    finished(sessions, "r3", [Line("bob", "b", 4.0), Line("cy", "c", 4.0), Line("dee", "d", 1.0)])  # a tie
    def state() -> dict[str, tuple]:
        with sessions() as session:
            return {name: (r.mu, r.sigma, r.rating, r.tournaments, r.streak, r.xp, r.level)
                    for r, name in repo.ranking(session, None, 100)}  # fmt: skip

    def changes() -> list[tuple]:
        with sessions() as session:
            query = select(RatingChange).order_by(RatingChange.rated_id, RatingChange.contestant_id)
            return [(c.contestant_id, c.tournament_id, c.rank, c.mu, c.sigma, c.change) for c in session.scalars(query)]

    before, history = state(), changes()
    assert len(history) == 8 and [c[2] for c in history[-3:]] == [1, 1, 3]  # r3: bob and cy tie for first
    with sessions.begin() as session:  # spoil the ratings: recompute must not start from them
        for row in session.scalars(select(ContestantRating)):
            row.mu, row.sigma, row.rating = 0.0, 1.0, 0.0
    with sessions.begin() as session:
        assert recompute(session) == 3
    assert state() == before and changes() == history


def test_streaks_count_consecutive_rated_tournaments(sessions) -> None:
    for i in range(3):
        finished(sessions, f"s{i}", [Line("ann", "a", 2.0), Line("bob", "b", 1.0)])
    assert rating(sessions, "ann").streak == 3 and "streak_3" in codes(sessions, "ann")
    finished(sessions, "s3", [Line("bob", "b", 2.0), Line("cy", "c", 1.0)])  # ann sits this one out
    finished(sessions, "s4", [Line("ann", "a", 2.0), Line("bob", "b", 1.0)])
    assert rating(sessions, "ann").streak == 1 and rating(sessions, "bob").streak == 5
    assert codes(sessions, "ann").count("streak_3") == 1  # earned once
    assert {"streak_3", "streak_5"} <= set(codes(sessions, "bob")) and "streak_10" not in codes(sessions, "bob")


# -- a real tournament ---------------------------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[2] / "arena" / "examples" / "bots"


@pytest.mark.sandbox
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("sandbox_runtime", ["runc"], indirect=True)
def test_a_real_tournament_rates_its_contestants_as_it_finishes(sessions, redis_url, sandbox_runtime) -> None:
    entrants = {"buy-and-hold": "ann", "sma-crossover": "ann", "market-maker": "bob", "mean-reversion": "cy"}
    with sessions.begin() as session:
        t = tournaments.create_tournament(session, "real", "Real", feed="synthetic:3", seed=3, ticks=30,
                                          rules={"symbols": ["SPY", "AAPL", "BTC-USD"]},
                                          tick_deadline_s=5.0)  # fmt: skip
        tournaments.transition(session, t, TournamentStatus.OPEN)
        for bot_name, owner_name in entrants.items():
            path = EXAMPLES / f"{bot_name.replace('-', '_')}.py"
            owner = accounts.contestant_by_name(session, owner_name) or accounts.create_contestant(session, owner_name)
            bot = bots.create_bot(session, owner, bot_name)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            version = bots.add_version(session, bot, sha256=digest, size_bytes=path.stat().st_size, file_count=1,
                                       storage_path=str(path))  # fmt: skip
            bots.set_version_verdict(session, version, VersionStatus.READY)
            tournaments.enter(session, t, version, owner)
        tournaments.transition(session, t, TournamentStatus.RUNNING)
        t_id = t.id
    run_tournament(sessions, redis_url, t_id)  # the service's run: record, finish, awards

    with sessions() as session:
        standings = {s.entry.bot_key: s.rank for s in record.standings_of(session, t_id)}
        changes = {c.bot_key: (c.rank, c.contestants) for c in session.scalars(select(RatingChange))}
    assert len(standings) == 4 and len(changes) == 3  # one line per contestant
    ann_best = min(("ann:buy-and-hold", "ann:sma-crossover"), key=lambda k: (standings[k], k))
    assert ann_best in changes  # ann placed by her best bot
    order = sorted(changes, key=lambda k: standings[k])
    assert [changes[k][0] for k in order] == sorted(changes[k][0] for k in order)
    assert count(sessions, RatedTournament) == 1 and count(sessions, XpAward) == 3
    finish(sessions, t_id)  # finishing again (a restart) rates nothing twice
    assert count(sessions, RatedTournament) == 1
    assert count(sessions, RatingChange) == 3 and count(sessions, XpAward) == 3


# -- each badge, earned and not earned, on small hand-made records ------------------------------------------


FOUR_SECTORS = (("AAPL", "buy", 10, 255.0), ("JPM", "buy", 10, 300.0), ("XOM", "buy", 10, 110.0),
                ("JNJ", "buy", 10, 160.0))  # fmt: skip


def sector_of(catalog, symbol: str) -> str:
    return catalog[symbol].sector


def test_diversified_needs_four_sectors_held_at_once(sessions, catalog) -> None:
    assert len({sector_of(catalog, s) for s, *_ in FOUR_SECTORS}) == 4
    # One after another (each closed before the next opens): four sectors traded, never more than one held.
    one_at_a_time = tuple(f for s, side, q, p in FOUR_SECTORS for f in ((s, side, q, p), (s, "sell", q, p)))
    finished(sessions, "d1", [Line("ann", "a", 2.0, fills=FOUR_SECTORS), Line("bob", "b", 1.0, fills=one_at_a_time),
                              Line("cy", "c", 0.5, fills=FOUR_SECTORS[:3])])  # fmt: skip
    assert "diversified" in codes(sessions, "ann")
    assert "diversified" not in codes(sessions, "bob") and "diversified" not in codes(sessions, "cy")
    with sessions() as session:
        ann = accounts.contestant_by_name(session, "ann")
        earned = next(a for a, _ in repo.achievements_of(session, ann.id) if a.code == "diversified")
    assert earned.detail == {"sectors": 4} and earned.bot_key == "ann:a"


def test_risk_manager_needs_a_finish_a_trade_and_drawdown_under_two_percent(sessions) -> None:
    trade = (("AAPL", "buy", 1, 255.0),)
    finished(sessions, "rm", [
        Line("ann", "a", 4.0, drawdown=0.019, fills=trade),
        Line("bob", "b", 3.0, drawdown=0.02, fills=trade),  # not under 2%
        Line("cy", "c", 2.0, drawdown=0.0),  # never traded
        Line("dee", "d", 1.0, drawdown=0.001, finished=False, fills=trade),  # crashed out
    ])  # fmt: skip
    assert [n for n in ("ann", "bob", "cy", "dee") if "risk_manager" in codes(sessions, n)] == ["ann"]


def test_whale_needs_one_fill_above_the_notional(sessions) -> None:
    finished(sessions, "w", [
        Line("ann", "a", 3.0, fills=(("AAPL", "buy", 400, 255.0),)),  # 102,000 in one fill
        Line("bob", "b", 2.0, fills=(("AAPL", "buy", 200, 255.0), ("AAPL", "buy", 200, 255.0))),  # 51,000 twice
        Line("cy", "c", 1.0, fills=(("AAPL", "buy", 392, 255.0),)),  # 99,960
    ])  # fmt: skip
    assert [n for n in ("ann", "bob", "cy") if "whale" in codes(sessions, n)] == ["ann"]


def test_the_whale_threshold_is_configurable(sessions, monkeypatch) -> None:
    monkeypatch.setenv("ARENA_WHALE_NOTIONAL", "50000")
    finished(sessions, "w2", [Line("bob", "b", 2.0, fills=(("AAPL", "buy", 200, 255.0),)), Line("cy", "c", 1.0)])
    assert "whale" in codes(sessions, "bob")


def test_a_badge_is_earned_once_and_announced_by_webhook(sessions) -> None:
    with sessions.begin() as session:
        ann = accounts.create_contestant(session, "ann")
        hook, _ = create_webhook(session, ann, "https://example.org/hook", ["achievement.earned"], seal=lambda s: s)
        other, _ = create_webhook(session, ann, "https://example.org/fills", ["order.filled"], seal=lambda s: s)
        hook_id, other_id = hook.id, other.id
    big = (("AAPL", "buy", 1000, 255.0),)
    finished(sessions, "h1", [Line("ann", "a", 2.0, fills=big), Line("bob", "b", 1.0, fills=big)])
    finished(sessions, "h2", [Line("ann", "a", 2.0, fills=big), Line("bob", "b", 1.0)])
    assert codes(sessions, "ann").count("whale") == 1
    with sessions() as session:
        queued = list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
    assert {d.endpoint_id for d in queued} == {hook_id} and other_id not in {d.endpoint_id for d in queued}
    by_code = {d.payload["data"]["achievement"]: d.payload for d in queued}
    assert set(by_code) == {"whale", "level_2", "level_3"}  # 250 XP, then 500: levels 2 and 3; bob has no hook
    whale = by_code["whale"]
    assert whale["type"] == "achievement.earned" and whale["tournament"] == "h1" and whale["bot"] == "ann:a"
    assert whale["data"]["title"] == "Whale" and whale["data"]["detail"]["notional"] == pytest.approx(255_000.0)
    assert by_code["level_3"]["tournament"] == "h2" and by_code["level_3"]["data"]["kind"] == "level"
    assert len({d.event_id for d in queued}) == len(queued)


def test_the_documented_achievement_event_is_what_the_awards_queue(sessions) -> None:
    """docs/webhooks.md's achievement.earned example, byte for byte what a risk manager's award queues."""
    with sessions.begin() as session:
        ann = accounts.create_contestant(session, "ann")  # the first contestant: id 1, which the event id derives from
        create_webhook(session, ann, "https://example.org/hook", ["achievement.earned"], seal=lambda s: s)
    trade = (("SPY", "buy", 10, 587.0),)
    t_id = running(sessions, "spring-cup", [Line("ann", "momentum", 2.0, drawdown=0.0175, fills=trade),
                                            Line("bob", "b", 1.0)])  # fmt: skip
    with sessions.begin() as session:
        t = tournaments.get_tournament(session, t_id)
        tournaments.transition(session, t, TournamentStatus.FINISHED)
        t.finished_at = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)  # 1767229200000 ms
    award_tournament(sessions, t_id)
    with sessions() as session:
        queued = {d.payload["data"]["achievement"]: d.payload for d in session.scalars(select(WebhookDelivery))}
    text = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.S)]
    documented = next(b for b in blocks if b["type"] == "achievement.earned")
    assert documented == queued["risk_manager"]


# -- the rules alone ----------------------------------------------------------------------------------------


def test_sectors_at_once_follows_positions_through_shorts_and_closes() -> None:
    sectors = {"A": "tech", "B": "energy", "C": "health", "D": "banks", "A2": "tech"}
    flat = [("A", "buy", 1.0), ("B", "sell", 2.0), ("B", "buy", 2.0), ("C", "buy", 1.0), ("D", "buy", 1.0)]
    assert rules.sectors_at_once(flat, sectors) == 3  # B was closed before D opened
    assert rules.sectors_at_once([*flat[:2], ("C", "buy", 1.0), ("D", "sell", 1.0)], sectors) == 4
    assert rules.sectors_at_once([("A", "buy", 1.0), ("A2", "buy", 1.0), ("A", "sell", 1.0)], sectors) == 1
    assert rules.sectors_at_once([], sectors) == 0


def test_xp_and_levels() -> None:
    assert rules.tournament_xp(1, 1, True) == {"entered": 100, "finished": 50, "place": 0}
    assert rules.tournament_xp(2, 5, False) == {"entered": 100, "finished": 0, "place": 75}
    assert [rules.level(x) for x in (0, 99, 100, 399, 400, 900, 1599, 1600)] == [1, 1, 2, 2, 3, 4, 4, 5]
    assert all(rules.level(rules.level_starts(n)) == n and rules.level(rules.level_starts(n) - 1) == n - 1
               for n in range(2, 50))  # fmt: skip


def test_newcomer_shows_1000_and_too_few_contestants_rate_nobody() -> None:
    from arena.ratings.skill import NEWCOMER, Placing, rate

    assert NEWCOMER.display == 1000.0
    alone = [Placing(1, 1, "x:y", 1)]
    assert rate({}, alone) == {1: NEWCOMER}



def test_a_yen_crosss_fill_is_a_whale_by_its_dollar_notional(sessions) -> None:
    finished(sessions, "wfx", [
        Line("ann", "a", 2.0, fills=(("EURJPY", "buy", 600_000, 180.0),)),  # 108 million yen, about 697,000 dollars
        Line("bob", "b", 1.0, fills=(("EURJPY", "buy", 10_000, 180.0),)),  # 1.8 million yen, about 11,600 dollars
    ])  # fmt: skip
    assert [n for n in ("ann", "bob") if "whale" in codes(sessions, n)] == ["ann"]
