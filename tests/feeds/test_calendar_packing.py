"""The session calendars' cache stores each schedule's times packed (base64 of 64-bit integers): read back, they are
the built ones; an entry packed wrongly, or of another layout, is built again rather than trusted."""

from __future__ import annotations

import base64
import json
from datetime import date

import pytest

from arena.feeds import calendars as cal

FIRST, LAST = date(2026, 3, 1), date(2026, 3, 20)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ARENA_CACHE_DIR", str(tmp_path))
    return tmp_path / "sessions"


def test_the_packed_columns_read_back_as_the_integers():
    values = [0, 1, -1, 2**63 - 1, -(2**63), 1_772_461_800_000]
    assert cal._integers(cal._packed(values)) == values


def damaged(entry: dict, **change) -> bytes:
    return json.dumps({**entry, **change}).encode()


@pytest.mark.parametrize("change", [
    {"layout": 1},
    {"starts": "not base64!"},
    {"starts": base64.b64encode(b"1234567").decode()},  # not a whole number of 8-byte integers
    {"ends": base64.b64encode(b"").decode()},  # fewer ends than starts
    {"starts": [0, 1]},  # the layout before packing
    {"ends": None},
    {"venue": "XLON"},
])  # fmt: skip
def test_a_wrongly_packed_entry_is_built_again(cache, change):
    good = cal.build_calendars(FIRST, LAST, ["XNYS"])["XNYS"]
    (entry,) = cache.glob("*.json")
    stored = json.loads(entry.read_bytes())
    assert stored["layout"] == cal._LAYOUT and isinstance(stored["starts"], str)
    entry.write_bytes(damaged(stored, **change))
    assert cal._load(entry, "XNYS") is None
    again = cal.build_calendars(FIRST, LAST, ["XNYS"])["XNYS"]
    assert again.intervals == good.intervals
    assert json.loads(entry.read_bytes()) == stored, "the entry was written again"
