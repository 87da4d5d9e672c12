"""The paging contract every list shares (arena/api/paging.py): cursors round-trip, and a malformed, foreign or
hostile cursor is refused with INVALID_CURSOR before anything is read."""

from __future__ import annotations

import base64

import pytest

from arena.api import paging
from arena.api.errors import ApiError


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
