"""The ratings API over HTTP (a real uvicorn, SQLite and PostgreSQL): the global ranking in the paging shape
({items, next}, walked page by page, places shared on ties), a contestant's profile (rating history, XP, level,
badges), what a tournament's contestants earned, the admin's award and recompute, bad requests refused with the
error envelope, and an achievement.earned webhook delivered end to end and verified by the receiver."""

from __future__ import annotations

import json

import httpx
import pytest

from arena.api.paging import encode
from tests.api.conftest import enrol
from tests.api.test_service import admin_key, poll
from tests.service.test_awards import Line, finished, running
from tests.service.test_webhook_dispatch import FAST, WallClock, documented_verify
from tests.webhooks.receiver import Receiver, serve


def pages(client: httpx.Client, path: str, limit: int) -> list[list[dict]]:
    """Every page of a list route, following its cursors."""
    out, cursor = [], None
    for _ in range(100):
        answer = client.get(path, params={"limit": limit, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        assert set(answer.json()) == {"items", "next"}
        out.append(answer.json()["items"])
        cursor = answer.json()["next"]
        if cursor is None:
            return out
    raise AssertionError("the pages never end")


@pytest.fixture
def rated(api, database_url):
    key = admin_key(database_url)
    server = api(database_url=database_url)
    sessions = server.server.config.app.state.arena.sessions
    big = (("AAPL", "buy", 1000, 255.0),)
    finished(sessions, "spring", [Line("ann", "a", 4.0, fills=big), Line("bob", "b", 3.0), Line("cy", "c", 2.0),
                                  Line("dee", "d", 2.0), Line("eve", "e", 1.0)])  # fmt: skip
    finished(sessions, "summer", [Line("ann", "a", 3.0), Line("bob", "b", 1.0)])
    client = httpx.Client(base_url=server.url + "/api/v1", timeout=30)
    yield server, client, {"X-API-Key": key}
    client.close()


def test_the_ranking_pages_best_first_with_places_and_badges(rated) -> None:
    _, client, _ = rated
    walked = pages(client, "/ratings", limit=3)
    assert [len(p) for p in walked] == [3, 2]
    rows = [row for page in walked for row in page]
    assert [r["contestant"] for r in rows][:2] == ["ann", "bob"]
    assert {r["contestant"] for r in rows[2:]} == {"cy", "dee", "eve"}
    assert [r["rating"] for r in rows] == sorted((r["rating"] for r in rows), reverse=True)
    cy, dee = (next(r for r in rows if r["contestant"] == n) for n in ("cy", "dee"))
    # They tied: one place, though on two pages (cy, rated first, ends the first page).
    assert cy["rating"] == dee["rating"] and cy["place"] == dee["place"] == 3
    assert walked[0][-1]["contestant"] == "cy" and walked[1][0]["contestant"] == "dee"
    ann = rows[0]
    assert ann["place"] == 1 and ann["tournaments"] == 2 and ann["streak"] == 2 and ann["badges"] == ["whale"]
    assert ann["xp"] == 500 and ann["level"] == 3  # 250 + 250 (winner twice: 100 + 50 + 100)
    assert client.get("/ratings", params={"limit": 500}).json()["items"] == rows


def test_a_contestant_profile_holds_rating_history_and_achievements(rated) -> None:
    _, client, _ = rated
    ann = client.get("/contestants/ann/profile").json()
    assert ann["rated"] and ann["place"] == 1 and ann["level"] == 3 and ann["next_level_xp"] == 900
    assert [(h["tournament"], h["rank"], h["contestants"], h["bot"]) for h in ann["history"]] == [
        ("spring", 1, 5, "ann:a"), ("summer", 1, 2, "ann:a")]  # fmt: skip
    assert ann["history"][-1]["rating"] == ann["rating"]
    assert ann["history"][0]["rating"] == pytest.approx(1000 + ann["history"][0]["change"])
    assert all(h["change"] > 0 for h in ann["history"])
    codes = [(a["code"], a["kind"], a["tournament"]) for a in ann["achievements"]]
    assert ("whale", "badge", "spring") in codes and ("level_3", "level", "summer") in codes
    whale = next(a for a in ann["achievements"] if a["code"] == "whale")
    assert whale["title"] == "Whale" and whale["bot"] == "ann:a" and whale["detail"]["notional"] == 255_000.0
    bob = client.get("/contestants/bob/profile").json()
    assert bob["history"][-1]["change"] < 0  # last of two in summer


def test_a_contestant_never_rated_and_unknown_ones(rated) -> None:
    server, client, admin = rated
    enrol(server.url, admin["X-API-Key"], ("zed",))
    zed = client.get("/contestants/zed/profile").json()
    assert (zed["rated"], zed["rating"], zed["place"], zed["xp"], zed["level"], zed["history"]) == (
        False, None, None, 0, 1, [])  # fmt: skip
    gone = client.get("/contestants/nobody/profile")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "UNKNOWN_CONTESTANT"
    assert client.get("/contestants/..%2F..%2Fadmin/profile").status_code in (404, 422)
    bad = client.get("/contestants/" + "x" * 65 + "/profile")
    assert bad.status_code == 422 and set(bad.json()) == {"error"}


def test_what_a_tournament_earned(rated) -> None:
    _, client, _ = rated
    spring = [row for page in pages(client, "/tournaments/spring/achievements", limit=2) for row in page]
    assert ("ann", "whale") in {(a["contestant"], a["code"]) for a in spring}
    assert all(a["tournament"] == "spring" for a in spring)
    assert {a["code"] for a in spring} == {"whale", "level_2"}  # everyone reached level 2 (100+ XP each)
    assert len([a for a in spring if a["code"] == "level_2"]) == 5
    unknown = client.get("/tournaments/nope/achievements")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "UNKNOWN_TOURNAMENT"


def test_bad_cursors_are_refused(rated) -> None:
    _, client, _ = rated
    for cursor in ("garbage!", encode("achievements", (5,)), encode("ratings", ("x", 1)), encode("ratings", (1.0,))):
        answer = client.get("/ratings", params={"cursor": cursor})
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "INVALID_CURSOR", cursor
    assert client.get("/ratings", params={"limit": 0}).status_code == 422


def test_admin_award_and_recompute(rated) -> None:
    server, client, admin = rated
    _, _, people = enrol(server.url, admin["X-API-Key"], ("mo",))
    before = client.get("/ratings", params={"limit": 500}).json()["items"]
    for path in ("/admin/ratings/recompute", "/admin/tournaments/spring/award"):
        refused = client.post(path, headers=people["mo"])
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "ADMIN_ONLY"
        assert client.post(path).status_code == 401
    again = client.post("/admin/tournaments/spring/award", headers=admin)
    assert again.status_code == 200 and again.json()["rated"] is False  # rated when it finished
    done = client.post("/admin/ratings/recompute", headers=admin)
    assert done.status_code == 200 and done.json() == {"tournaments": 2}
    assert client.get("/ratings", params={"limit": 500}).json()["items"] == before
    # A finished tournament whose awards were never given (they failed, say) gets them on demand.
    sessions = server.server.config.app.state.arena.sessions
    from arena.store import tournaments

    t_id = running(sessions, "autumn", [Line("bob", "b", 2.0), Line("ann", "a", 1.0)])
    with sessions.begin() as session:
        tournaments.transition(session, tournaments.get_tournament(session, t_id), "finished")
    given = client.post("/admin/tournaments/autumn/award", headers=admin).json()
    assert given["rated"] and set(given["ratings"]) == {"ann", "bob"} and given["xp"]["bob"] == 250
    assert client.get("/contestants/bob/profile").json()["history"][-1]["tournament"] == "autumn"


def test_an_achievement_reaches_the_owners_endpoint_signed(api, database_url) -> None:
    """End to end: a contestant subscribes to achievement.earned through the API; when a tournament finishes, the
    service's dispatcher delivers each badge and level to their loopback receiver, which verifies the signature."""
    server = api(database_url=database_url, webhooks_allow_loopback=True, webhooks_allowed_ports="1-65535",
                 rate_limit=1_000_000)  # fmt: skip
    dispatcher = server.server.config.app.state.webhooks
    dispatcher.policy, dispatcher.poll_s = FAST, 0.05
    client, _, people = enrol(server.url, admin_key(database_url), ("ann", "bob"))
    with serve(Receiver(WallClock(), secrets=[], verifier=documented_verify())) as receiver:  # type: ignore[arg-type]
        hook = client.post("/webhooks", headers=people["ann"], json={"url": receiver.url,
                                                                     "events": ["achievement.earned"]})  # fmt: skip
        assert hook.status_code == 201, hook.text
        receiver.secrets = [hook.json()["secret"]]
        sessions = server.server.config.app.state.arena.sessions
        finished(sessions, "hooked", [Line("ann", "a", 2.0, fills=(("AAPL", "buy", 1000, 255.0),)),
                                      Line("bob", "b", 1.0)])  # fmt: skip
        path = f"/webhooks/{hook.json()['id']}/deliveries"
        rows = poll(lambda: client.get(path, headers=people["ann"]).json()["items"],
                    lambda items: len(items) == 2 and all(r["status"] == "delivered" for r in items))  # fmt: skip
    assert sorted(r["type"] for r in rows) == ["achievement.earned"] * 2
    assert [r.verdict for r in receiver.requests] == ["processed", "processed"]
    bodies = [json.loads(r.body) for r in receiver.requests]
    assert {b["data"]["achievement"] for b in bodies} == {"whale", "level_2"}
    assert {(b["tournament"], b["bot"]) for b in bodies} == {("hooked", "ann:a")}
    client.close()
