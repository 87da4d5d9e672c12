"""The paging contract every list shares (arena/api/paging.py): cursors round-trip, and a malformed, foreign or
hostile cursor is refused with INVALID_CURSOR before anything is read; over HTTP, walking a list's pages yields
each row once while rows are added between pages (tables and the leaderboard), and no route answers a bare list."""

from __future__ import annotations

import base64
from collections.abc import Callable

import httpx
import pytest
import redis

from arena.api import paging
from arena.api.errors import ApiError
from arena.runtime.leaderboard import Leaderboard
from tests.api import test_service
from tests.api.conftest import walk

service = test_service.service  # the fixture: a live service (SQLite and PostgreSQL), its admin and two contestants


def test_a_cursor_round_trips_its_key_and_is_url_safe() -> None:
    cursor = paging.encode("leaderboard", (-0.1 + 0.2, "al/ice:bot+1"))
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert paging.decode(cursor, "leaderboard", (float, str)) == (-0.1 + 0.2, "al/ice:bot+1")  # the exact float


def _raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",  # not base64
        _raw("not json"),
        _raw("{}"),
        _raw("[]"),
        _raw('["fills", 3]'),  # another list's cursor
        _raw('["tournaments"]'),  # no key
        _raw('["tournaments", 3, 4]'),  # too long a key
        _raw('["tournaments", "3"]'),  # a string for an id
        _raw('["tournaments", true]'),
        _raw('["tournaments", -1]'),
        _raw('["tournaments", 1e400]'),
        _raw(f'["tournaments", {2**64}]'),
        _raw('["tournaments", NaN]'),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),  # not UTF-8
        "A" * (paging.MAX_CURSOR_CHARS + 1),
    ],
)
def test_a_bad_cursor_is_invalid_cursor(cursor: str) -> None:
    with pytest.raises(ApiError) as refused:
        paging.PageRequest(10, cursor).after("tournaments", (int,))
    assert (refused.value.status, refused.value.code) == (422, "INVALID_CURSOR")
    assert refused.value.extra["fields"][0]["field"] == "query.cursor"


def test_a_page_reads_one_more_row_than_it_shows_to_know_whether_more_follow() -> None:
    ask = paging.PageRequest(2, None)
    assert ask.page("t", [(1,), (2,), (3,)], lambda row: row) == ([(1,), (2,)], paging.encode("t", (2,)))
    assert ask.page("t", [(1,), (2,)], lambda row: row) == ([(1,), (2,)], None)  # no empty last page
    assert ask.page("t", [], lambda row: row) == ([], None)


# -- over HTTP ----------------------------------------------------------------------------------------------


def _walk_adding(client: httpx.Client, path: str, headers: dict, add: Callable[[int], object]) -> list[dict]:
    """Every item of ``path`` two at a time, calling ``add(page number)`` before each page after the first."""
    items: list[dict] = []
    page = client.get(path, headers=headers, params={"limit": 2}).json()
    for n in range(1, 1000):
        items += page["items"]
        if page["next"] is None:
            return items
        add(n)
        page = client.get(path, headers=headers, params={"limit": 2, "cursor": page["next"]}).json()
    raise AssertionError("the pages never end")


def test_walking_a_list_yields_each_row_once_while_rows_are_added(service) -> None:
    client, admin, _ = service

    def create(i: int) -> None:
        assert client.post("/admin/tournaments", headers=admin, json={"slug": f"t{i}", "name": "T"}).status_code == 201

    for i in range(5):
        create(i)
    made = iter(range(100, 200))
    # Newest first: a new one lands before the cursor, on a page already read.
    add_tournament = lambda _: create(next(made))  # noqa: E731

    seen = [t["slug"] for t in _walk_adding(client, "/admin/tournaments", admin, add_tournament)]
    assert seen == ["t4", "t3", "t2", "t1", "t0"]  # once each, newest first; an offset would repeat rows

    def add_contestant(n: int) -> None:  # oldest first: a new one lands after the cursor, and is read
        assert client.post("/admin/contestants", headers=admin, json={"name": f"late{n}"}).status_code == 201

    names = [c["name"] for c in _walk_adding(client, "/admin/contestants", admin, add_contestant)]
    assert names == ["root", "alice", "bob", "late1"]  # once each, oldest first, the one added after the cursor too
    assert names == [c["name"] for c in walk(client, "/admin/contestants", admin, limit=500)]


def test_walking_the_leaderboard_with_ties_while_bots_climb_above_the_cursor(api, http, redis_url) -> None:
    client = redis.Redis.from_url(redis_url)
    board = Leaderboard(client, "walk-1")
    board.update({f"b{i:02}": float(i % 3) for i in range(11)} | {"x:odd/name": 1.0})  # many ties
    expected = [s.bot for s in board.top(100)]
    climbers = iter(range(100))
    with httpx.Client(base_url=api().url) as spectator:
        seen = _walk_adding(spectator, "/api/v1/tournaments/walk-1/leaderboard", {},
                            lambda _: board.update({f"top{next(climbers)}": 99.0}))  # fmt: skip
    assert [s["bot"] for s in seen] == expected  # once each, in board order; the climbers sit above the cursor
    ranks = [s["rank"] for s in seen]  # each as the board stood when its page was read: climbers push them down
    assert ranks == sorted(ranks) and ranks[-1] == board.rank(seen[-1]["bot"]) > len(expected)
    client.close()


def test_bad_cursors_and_limits_are_refused_with_the_envelope(service) -> None:
    client, admin, _ = service
    contestants = client.get("/admin/contestants", headers=admin, params={"limit": 1}).json()
    assert contestants["next"] and len(contestants["items"]) == 1
    for cursor in (contestants["next"], "garbage!", "A" * 600):  # another list's cursor; not one; too long
        answer = client.get("/admin/tournaments", headers=admin, params={"cursor": cursor})
        assert answer.status_code == 422
        assert answer.json()["error"]["code"] == ("INVALID_REQUEST" if len(cursor) > 512 else "INVALID_CURSOR")
    for limit in (0, paging.MAX_LIMIT + 1, -1):
        answer = client.get("/admin/contestants", headers=admin, params={"limit": limit})
        assert (answer.status_code, answer.json()["error"]["code"]) == (422, "INVALID_REQUEST")
        assert answer.json()["error"]["fields"][0]["field"] == "query.limit"
    assert len(client.get("/admin/contestants", headers=admin, params={"limit": 500}).json()["items"]) == 3
    assert client.get("/admin/contestants", headers=admin).json()["next"] is None  # 3 rows: one page of 50


def test_every_list_route_answers_a_page(service) -> None:
    client, _, _ = service
    spec = httpx.get(str(client.base_url).split("/api/v1")[0] + "/openapi.json").json()
    schemas = spec["components"]["schemas"]
    paged, bare = [], []
    for path, methods in spec["paths"].items():
        get = methods.get("get")
        if get is None or "200" not in get["responses"]:
            continue
        body = get["responses"]["200"].get("content", {}).get("application/json", {}).get("schema", {})
        if body.get("type") == "array":
            bare.append(path)
        names = {p["name"] for p in get.get("parameters", [])}
        if "cursor" in names:
            schema = schemas[body["$ref"].rsplit("/", 1)[1]]
            assert {"items", "next"} <= set(schema["properties"]) and "limit" in names, path
            paged.append(path)
    assert not bare, f"these answer a bare list, not a page (arena/api/paging.py): {bare}"
    assert len(paged) >= 14
