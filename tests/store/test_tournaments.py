"""Tournament lifecycle, editing, entries; JSON and UTC round trips."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from arena.store import tournaments
from arena.store.db import make_sessionmaker
from arena.store.errors import Conflict, IllegalTransition, InvalidValue, NotFound
from arena.store.models import Entry, EntryStatus, Tournament, TournamentStatus
from arena.store.types import utcnow

S = TournamentStatus
LEGAL = {(S.DRAFT, S.OPEN), (S.OPEN, S.RUNNING), (S.RUNNING, S.FINISHED), (S.RUNNING, S.FAILED)} | {
    (s, S.CANCELLED) for s in (S.DRAFT, S.OPEN, S.RUNNING)
}


def _at(session: Session, status: TournamentStatus, slug: str) -> Tournament:
    t = tournaments.create_tournament(session, slug, slug)
    if status is S.CANCELLED:
        return tournaments.transition(session, t, S.CANCELLED)
    if status is S.FAILED:
        for step in (S.OPEN, S.RUNNING):
            tournaments.transition(session, t, step)
        return tournaments.transition(session, t, S.FAILED, reason="its engine stopped")
    for step in (S.OPEN, S.RUNNING, S.FINISHED):
        if t.status is status:
            break
        tournaments.transition(session, t, step)
    return t


def test_the_whole_lifecycle(session: Session) -> None:
    t = tournaments.create_tournament(session, "spring-2026", "Spring cup", ticks=500, seed=7)
    assert t.status is S.DRAFT and t.started_at is None
    tournaments.transition(session, t, S.OPEN)
    tournaments.transition(session, t, "running")
    assert t.started_at is not None and t.finished_at is None
    tournaments.transition(session, t, S.FINISHED)
    session.commit()
    fresh = tournaments.get_tournament(session, "spring-2026")
    assert fresh.status is S.FINISHED and fresh.finished_at >= fresh.started_at
    assert tournaments.get_tournament(session, fresh.id) is fresh


@pytest.mark.parametrize(("start", "to"), sorted(itertools.product(S, S)))
def test_every_transition(session: Session, start: TournamentStatus, to: TournamentStatus) -> None:
    t = _at(session, start, "t")
    if (start, to) in LEGAL:
        assert tournaments.transition(session, t, to).status is to
    else:
        with pytest.raises(IllegalTransition) as caught:
            tournaments.transition(session, t, to)
        assert caught.value.code == "ILLEGAL_TRANSITION"
        assert start.value in caught.value.message and to.value in caught.value.message
        assert t.status is start


def test_unknown_status(session: Session) -> None:
    t = _at(session, S.DRAFT, "t")
    with pytest.raises(InvalidValue) as caught:
        tournaments.transition(session, t, "paused")
    assert caught.value.code == "INVALID_STATUS"


def test_transition_is_compare_and_set(engine: Engine) -> None:
    factory = make_sessionmaker(engine)
    with factory.begin() as s:
        tid = _at(s, S.OPEN, "race").id
    with factory() as first, factory() as second:
        b = second.get(Tournament, tid)
        second.expunge(b)  # keep what it read ("open"), and end its transaction (SQLite: one writer)
        second.rollback()
        a = first.get(Tournament, tid)
        tournaments.transition(first, a, S.RUNNING)
        first.commit()
        second.add(b)
        assert b.status is S.OPEN
        with pytest.raises(IllegalTransition) as caught:
            tournaments.transition(second, b, S.CANCELLED)  # its "open" is stale: refused, not overwritten
        assert "changed meanwhile" in caught.value.message
        assert b.status is S.RUNNING


def test_editing(session: Session) -> None:
    t = tournaments.create_tournament(session, "t", "T")
    tournaments.update_tournament(session, t, name="Renamed", ticks=100, rules={"leverage": 1.0})
    assert (t.name, t.ticks, t.rules) == ("Renamed", 100, {"leverage": 1.0})
    with pytest.raises(InvalidValue) as caught:
        tournaments.update_tournament(session, t, status="finished")
    assert caught.value.code == "INVALID_FIELD"
    tournaments.transition(session, t, S.OPEN)
    tournaments.update_tournament(session, t, ticks=200)
    tournaments.transition(session, t, S.RUNNING)
    with pytest.raises(IllegalTransition) as caught:
        tournaments.update_tournament(session, t, ticks=300)
    assert caught.value.code == "TOURNAMENT_NOT_EDITABLE" and t.ticks == 200


def test_windows_and_naive_datetimes(session: Session) -> None:
    now = utcnow()
    with pytest.raises(InvalidValue) as caught:
        tournaments.create_tournament(session, "t", "T", starts_at=now, ends_at=now - timedelta(hours=1))
    assert caught.value.code == "INVALID_WINDOW"
    with pytest.raises(InvalidValue) as caught:
        tournaments.create_tournament(session, "t", "T", starts_at=datetime(2026, 1, 1))
    assert caught.value.code == "NAIVE_DATETIME"


def test_slugs(session: Session) -> None:
    tournaments.create_tournament(session, "cup:2026.q1_a-b", "ok")
    with pytest.raises(Conflict) as caught:
        tournaments.create_tournament(session, "cup:2026.q1_a-b", "again")
    assert caught.value.code == "TOURNAMENT_ID_TAKEN"
    for bad in ["", "{t}", "-t", "a b", "x" * 65]:
        with pytest.raises(InvalidValue):
            tournaments.create_tournament(session, bad, "bad")
    with pytest.raises(NotFound):
        tournaments.get_tournament(session, "missing")
    assert [t.slug for t in tournaments.list_tournaments(session, S.DRAFT)] == ["cup:2026.q1_a-b"]


def test_json_columns_round_trip(engine: Engine) -> None:
    rules = {"leverage": 1.0, "fees": {"crypto": {"maker": -0.0001, "taker": 0.0005}}, "symbols": ["BTC-USD"],
             "flags": [True, False, None], "big": 2**53, "text": "ünïcode ✓"}  # fmt: skip
    factory = make_sessionmaker(engine)
    with factory.begin() as s:
        t = tournaments.create_tournament(s, "t", "T", rules=rules, limits={"cpu": "0.5", "pids": 64},
                                          symbols=["AAPL", "BTC-USD"])  # fmt: skip
        tid = t.id
    with factory() as s:
        t = s.get(Tournament, tid)
        assert t.rules == rules and t.limits == {"cpu": "0.5", "pids": 64} and t.symbols == ["AAPL", "BTC-USD"]


def test_timestamps_are_utc_aware(engine: Engine) -> None:
    tokyo = timezone(timedelta(hours=9))
    start = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=tokyo)
    factory = make_sessionmaker(engine)
    with factory.begin() as s:
        tid = tournaments.create_tournament(s, "t", "T", starts_at=start, ends_at=start + timedelta(days=1)).id
    with factory() as s:
        t = s.get(Tournament, tid)
        assert t.starts_at == start and t.starts_at.tzinfo is UTC and t.starts_at.hour == 0
        assert t.created_at.tzinfo is UTC and abs(utcnow() - t.created_at) < timedelta(minutes=1)


# -- entries --------------------------------------------------------------------------------------


def test_entering(world) -> None:
    s = world.session
    alice, bob = world.contestant("alice"), world.contestant("bob")
    t = world.tournament("cup")
    a = tournaments.enter(s, t, world.version(alice, "momentum"), alice)
    b = tournaments.enter(s, t, world.version(bob, "momentum"), bob)
    s.commit()
    assert a.bot_key == "alice:momentum" and b.bot_key == "bob:momentum"
    assert a.status is EntryStatus.ENTERED and not a.disqualified
    assert tournaments.entry_map(s, t) == {"alice:momentum": a.id, "bob:momentum": b.id}
    assert [e.id for e in tournaments.entries_of(s, t)] == [a.id, b.id]
    assert [e.id for e in tournaments.entries_of_contestant(s, alice)] == [a.id]
    assert tournaments.get_entry(s, a.id, alice) is a
    with pytest.raises(NotFound):
        tournaments.get_entry(s, a.id, bob)


def test_one_entry_per_bot(world) -> None:
    s = world.session
    alice = world.contestant("alice")
    t = world.tournament("cup")
    v1 = world.version(alice, "momentum")
    v2 = world.version(alice, "momentum")  # a newer version of the same bot
    tournaments.enter(s, t, v1, alice)
    with pytest.raises(Conflict) as caught:
        tournaments.enter(s, t, v2, alice)
    assert caught.value.code == "ALREADY_ENTERED"
    other = world.tournament("other")
    tournaments.enter(s, other, v2, alice)  # another tournament is fine
    s.commit()
    assert s.query(Entry).count() == 2


def test_entry_refusals(world) -> None:
    s = world.session
    alice, bob = world.contestant("alice"), world.contestant("bob")
    ready = world.version(alice, "momentum")
    cases = [
        (world.tournament("draft", S.DRAFT), ready, alice, "TOURNAMENT_NOT_OPEN"),
        (world.tournament("running", S.RUNNING), ready, alice, "TOURNAMENT_NOT_OPEN"),
        (world.tournament("open"), world.version(alice, "pending", ready=False), alice, "VERSION_NOT_READY"),
        (world.tournament("theirs"), ready, bob, "NOT_FOUND"),
        (world.tournament("late", entry_closes_at=utcnow() - timedelta(minutes=1)), ready, alice,
         "ENTRY_WINDOW_CLOSED"),
        (world.tournament("early", entry_opens_at=utcnow() + timedelta(minutes=1)), ready, alice,
         "ENTRY_WINDOW_CLOSED"),
    ]  # fmt: skip
    for tournament, version, who, code in cases:
        with pytest.raises((IllegalTransition, NotFound)) as caught:
            tournaments.enter(s, tournament, version, who)
        assert caught.value.code == code, tournament.slug
    assert s.query(Entry).count() == 0


def test_withdraw_disqualify_and_end(world) -> None:
    s = world.session
    alice, bob = world.contestant("alice"), world.contestant("bob")
    t = world.tournament("cup")
    a = tournaments.enter(s, t, world.version(alice, "a"), alice)
    b = tournaments.enter(s, t, world.version(bob, "b"), bob)
    with pytest.raises(NotFound):
        tournaments.withdraw(s, a, bob)
    assert tournaments.withdraw(s, a, alice).status is EntryStatus.WITHDRAWN
    tournaments.transition(s, t, S.RUNNING)
    with pytest.raises(IllegalTransition):
        tournaments.withdraw(s, b, bob)
    tournaments.disqualify(s, b)
    report = {"bot": "bob:b", "status": "oom", "exit_code": 137, "reason": "memory limit", "host_fault": False,
              "cpu_seconds": 1.5, "peak_memory_bytes": 268435456, "wall_seconds": 12.0, "orders": 40,
              "stderr": "Killed", "logs": ["x"]}  # fmt: skip
    tournaments.record_entry_end(s, b, EntryStatus.OUT, report)
    s.commit()
    s.expire_all()
    assert b.disqualified and b.status is EntryStatus.OUT and b.end_classification == "oom"
    assert b.resource_use == {"exit_code": 137, "host_fault": False, "orders": 40, "cpu_seconds": 1.5,
                              "peak_memory_bytes": 268435456, "wall_seconds": 12.0}  # fmt: skip
