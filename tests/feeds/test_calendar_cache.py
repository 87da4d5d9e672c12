"""The session calendars' cache (arena/feeds/calendars.py): what a later run reads instead of building."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import pytest

from arena.feeds import FeedError, FeedErrorCode
from arena.feeds import calendars as cal

FIRST, LAST = date(2026, 3, 1), date(2026, 3, 20)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ARENA_CACHE_DIR", str(tmp_path))
    return tmp_path / "sessions"


def test_a_stored_schedule_answers_as_the_built_one(cache):
    built = cal.build_calendars(FIRST, LAST, ["XNYS", "CME", "FOREX", "CRYPTO"])
    files = sorted(p.name for p in cache.glob("*.json"))
    assert [f.split("-")[0] for f in files] == ["CME", "XNYS"], "only the exchange_calendars venues are stored"
    again = cal.build_calendars(FIRST, LAST, ["XNYS", "CME", "FOREX", "CRYPTO"])
    for venue in ("XNYS", "CME"):
        a, b = built[venue], again[venue]
        assert (a.lo, a.hi, a.intervals) == (b.lo, b.hi, b.intervals)
        assert a.intervals, "a fortnight of sessions"
        for ts in range(a.lo, a.hi, 15 * 60_000):
            assert a.phase(ts) == b.phase(ts)


def test_a_later_process_does_not_import_exchange_calendars(cache):
    code = ("import sys, datetime as d; from arena.feeds.calendars import build_calendars as b; "
            "b(d.date(2026, 3, 1), d.date(2026, 3, 20), ['XNYS', 'XLON']); "
            "print('exchange_calendars' in sys.modules)")
    env = {"ARENA_CACHE_DIR": str(cache.parent), "PATH": "/usr/bin:/bin"}
    runs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            for _ in range(2)]
    assert [r.stdout.strip() for r in runs] == ["True", "False"]


@pytest.mark.parametrize("junk", [
    b"", b"{", b"[]",
    b'{"venue": "XNYS", "lo": 0, "hi": 1, "intervals": [[0, 1, "regular"]]}',  # an older release's layout
    b'{"venue": "XNYS", "lo": 0, "hi": 9, "starts": [0], "ends": [1], "phases": "lunch"}',
    b'{"venue": "XLON", "lo": 0, "hi": 9, "starts": [], "ends": [], "phases": ""}',
    b'{"venue": "XNYS", "lo": 0, "hi": 9, "starts": [0.5], "ends": [1], "phases": "regular"}',
    b'{"venue": "XNYS", "lo": 0, "hi": 9, "starts": [true], "ends": [1], "phases": "regular"}',
    b'{"venue": "XNYS", "lo": 0, "hi": 9, "starts": [0, 5], "ends": [1], "phases": "regular"}',
    b'{"venue": "XNYS", "lo": 0, "hi": 9, "starts": [0, 1], "ends": [2, 3], "phases": "regular,regular"}',
    b'{"venue": "XNYS", "lo": 0, "hi": 9, "starts": "0", "ends": [1], "phases": "regular"}',
    b'{"venue": "XNYS", "lo": 0, "hi": 9, "starts": [0], "ends": [1], "phases": 7}',
])
def test_a_damaged_entry_is_built_again(cache, junk):
    good = cal.build_calendars(FIRST, LAST, ["XNYS"])["XNYS"]
    (entry,) = cache.glob("*.json")
    entry.write_bytes(junk)
    again = cal.build_calendars(FIRST, LAST, ["XNYS"])["XNYS"]
    assert again.intervals == good.intervals
    assert json.loads(entry.read_bytes())["venue"] == "XNYS", "the entry was written again"


def test_an_unwritable_cache_only_costs_time(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory would go")
    monkeypatch.setenv("ARENA_CACHE_DIR", str(blocker))
    assert cal.build_calendars(FIRST, LAST, ["XNAS"])["XNAS"].intervals


def test_the_cache_keeps_a_bounded_number_of_entries(cache, monkeypatch):
    monkeypatch.setattr(cal, "_KEEP", 2)
    for day in (1, 2, 3, 4):
        cal.build_calendars(date(2026, 3, day), LAST, ["XNYS"])
    assert len(list(cache.glob("*.json"))) == 2


def test_errors_keep_their_codes(cache):
    with pytest.raises(FeedError) as exc:
        cal.build_calendars(LAST, FIRST, ["XNYS"])
    assert exc.value.code is FeedErrorCode.CALENDAR
    with pytest.raises(FeedError) as exc:
        cal.build_calendars(FIRST, LAST, ["MARS"])
    assert exc.value.code is FeedErrorCode.UNKNOWN_VENUE
