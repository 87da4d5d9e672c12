"""A bot's public card obeys the spectator delay of the leaderboard: while a tournament runs the public sees its
curve, NAV, score, trades and fees only as far as the delayed board has got; the bot's owner and admins see it
live. Real uvicorn, Redis and SQLite; the change feed's entries are written with chosen stream ids (the ms they
were published), so no test waits for the delay to pass."""

from __future__ import annotations

import json
import time

import httpx
import pytest
import redis

from arena.engine.events import AccountUpdate, Fill
from arena.engine.orders import Side
from arena.runtime.leaderboard import Leaderboard, LeaderboardKeys
from arena.store import accounts, record, tournaments
from arena.store.models import TournamentStatus
from tests.engine.builders import T0, accepted
from tests.store.conftest import World

DELAY_S = 3600.0
LATER = T0 + 60_000  # the second tick's simulated time


def publish(client: redis.Redis, slug: str, ts: int, published_s_ago: float) -> None:
    """One leaderboard change of the tick at ``ts``, as if published ``published_s_ago`` seconds ago."""
    ms = int((time.time() - published_s_ago) * 1000)
    body = json.dumps({"seq": 1, "ts": ts, "tick": 1, "scores": {"alice:a": 1.0}})
    client.xadd(LeaderboardKeys.for_tournament(slug).changes, {"change": body}, id=f"{ms}-0")


@pytest.fixture
def cup(api, redis_url):
    """A running tournament: alice's bot has a snapshot at T0 and one (with a fill) at LATER; API keys by name."""
    server = api(spectator_delay_s=DELAY_S)
    with server.server.config.app.state.arena.sessions.begin() as session:
        world = World(session)
        alice, bob, root = world.contestant("alice"), world.contestant("bob"), world.contestant("root", is_admin=True)
        t = world.tournament("cup")
        tournaments.enter(session, t, world.version(alice, "a"), alice)
        tournaments.enter(session, t, world.version(bob, "b"), bob)
        tournaments.transition(session, t, TournamentStatus.RUNNING)
        entries = tournaments.entry_map(session, t)
        record.record_events(session, t, entries, [
            accepted(LATER, 1, "alice:a", "c1", "SPY"),
            Fill(LATER, 1, "alice:a", "c1", "SPY", Side.BUY, 10.0, 100.0, 0.5, False, 10.0, 0.0)])  # fmt: skip
        record.record_equity(session, t, entries, [AccountUpdate(T0, "alice:a", 1_000_000.0, 0.0, 0.0),
                                                   AccountUpdate(LATER, "alice:a", 1_200_000.0, 0.0, 0.2)])  # fmt: skip
        keys = {who.name: accounts.create_api_key(session, who)[1] for who in (alice, bob, root)}
    with httpx.Client(base_url=server.url + "/api/v1", timeout=10) as client:
        yield client, keys, redis.Redis.from_url(redis_url)


def card(client: httpx.Client, key: str | None = None) -> dict:
    answer = client.get("/tournaments/cup/bots/alice:a", headers={"X-API-Key": key} if key else {})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_public_sees_a_card_as_of_the_delayed_board(cup) -> None:
    client, keys, r = cup
    publish(r, "cup", T0, published_s_ago=DELAY_S + 5)  # old enough for the public
    publish(r, "cup", LATER, published_s_ago=1)  # not yet
    for who in (None, keys["bob"]):  # anonymous, and a rival
        seen = card(client, who)
        assert [p["ts"] for p in seen["equity"]] == [T0] and seen["points"] == 1
        assert seen["nav"] == 1_000_000.0 and seen["score"] == 0.0
        assert seen["trades"] == 0 and seen["fees"] == 0.0 and seen["delayed_s"] == DELAY_S
    for who in (keys["alice"], keys["root"]):  # the owner and an admin see it live
        seen = card(client, who)
        assert [p["ts"] for p in seen["equity"]] == [T0, LATER] and seen["nav"] == 1_200_000.0
        assert seen["trades"] == 1 and seen["fees"] == 0.5 and seen["delayed_s"] == 0.0


def test_before_the_first_change_is_old_enough_the_public_sees_no_figures(cup) -> None:
    client, keys, r = cup
    publish(r, "cup", T0, published_s_ago=1)
    seen = card(client)
    assert seen["equity"] == [] and seen["nav"] is None and seen["score"] is None and seen["trades"] == 0
    assert card(client, keys["alice"])["nav"] == 1_200_000.0


def test_a_frozen_board_shows_the_card_whole(cup) -> None:
    client, _keys, r = cup
    publish(r, "cup", T0, published_s_ago=1)
    Leaderboard(r, "cup").freeze()  # the tournament's end: the final board is public at once
    seen = card(client)
    assert seen["nav"] == 1_200_000.0 and seen["trades"] == 1 and seen["delayed_s"] == 0.0


def test_an_unknown_api_key_is_refused_but_an_expired_session_is_anonymous(cup) -> None:
    client, _keys, r = cup
    publish(r, "cup", T0, published_s_ago=DELAY_S + 5)
    answer = client.get("/tournaments/cup/bots/alice:a", headers={"X-API-Key": "made-up"})
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "INVALID_API_KEY"
    stale = client.get("/tournaments/cup/bots/alice:a", headers={"Cookie": "arena_session=expired"})
    assert stale.status_code == 200 and stale.json()["nav"] == 1_000_000.0
