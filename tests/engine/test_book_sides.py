"""A book made from a ladder's sides (bid prices, ask prices, the sizes both share) is the book its zipped levels
make: equal, hashed, shown, pickled and sent on the wire the same; its touch and depth totals are read without
making the levels, and are those of the levels."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from arena.catalog import load_catalog
from arena.engine.book import L2Book, total_size
from arena.engine.market import Market
from arena.engine.tick import Tick
from arena.runtime.bus import book_from_wire, book_to_wire
from arena.runtime.protocol import compact_json

SIZES = (120.0, 168.0, 216.0, 0.1 + 0.2, 312.0)
CASES = {
    "full": ((20.12, 20.11, 20.1, 20.09, 20.08), (20.13, 20.14, 20.15, 20.16, 20.17)),
    "short bid side": ((0.02, 0.01), (0.03, 0.04, 0.05, 0.06, 0.07)),  # a ladder stops above zero
    "prices beyond the sizes": ((20.12, 20.11, 20.1, 20.09, 20.08, 20.07), (20.13, 20.14, 20.15, 20.16, 20.17)),
}


def _pair(bid_prices: tuple[float, ...], ask_prices: tuple[float, ...]) -> tuple[L2Book, L2Book]:
    lazy = L2Book("ORCL", 7, (), (), 20.12, 1500.0, sides=(bid_prices, ask_prices, SIZES))
    bids = tuple(zip(bid_prices, SIZES, strict=False))
    asks = tuple(zip(ask_prices, SIZES, strict=False))
    return lazy, L2Book("ORCL", 7, bids, asks, 20.12, 1500.0)


@pytest.mark.parametrize("case", CASES)
def test_a_ladders_book_reads_as_its_levels_without_making_them(case: str) -> None:
    lazy, eager = _pair(*CASES[case])
    assert lazy._bids is None and lazy._asks is None
    assert (lazy.top_bid(), lazy.top_ask()) == (eager.bids[0], eager.asks[0])
    assert (lazy.best_bid, lazy.best_ask, lazy.mid, lazy.spread) == (eager.best_bid, eager.best_ask, eager.mid,
                                                                     eager.spread)  # fmt: skip
    assert (lazy.bid_total(), lazy.ask_total()) == (eager.bid_total(), eager.ask_total())
    for book in (lazy, eager):  # the engine's market takes both as the same book
        market = Market(load_catalog()["ORCL"])
        market.update(book, {})
        expected = ((eager.best_bid + eager.best_ask) * 0.5, total_size(eager.bids), total_size(eager.asks))
        assert (market.mark, market.bid_depth, market.ask_depth) == expected
    assert lazy._bids is None and lazy._asks is None  # nothing above made the levels
    assert lazy.bids == eager.bids and lazy.asks == eager.asks
    assert lazy.bids is lazy.bids  # made once


@pytest.mark.parametrize("case", CASES)
def test_a_ladders_book_equals_hashes_shows_pickles_and_wires_as_its_levels(case: str) -> None:
    lazy, eager = _pair(*CASES[case])
    assert lazy == eager and eager == lazy and hash(lazy) == hash(eager) and repr(lazy) == repr(eager)
    assert hash(Tick(7, (lazy,))) == hash(Tick(7, (eager,)))
    assert pickle.loads(pickle.dumps(lazy)) == eager
    assert compact_json(book_to_wire(lazy)) == compact_json(book_to_wire(eager))
    assert book_from_wire(book_to_wire(lazy)) == eager
    assert lazy != "ORCL"  # a book is unequal to anything not a book
    assert L2Book("ORCL", 7, (), (), 20.12, 1500.0, sides=(CASES[case][0], CASES[case][0], SIZES)) != eager


def test_a_book_stays_frozen() -> None:
    lazy, eager = _pair(*CASES["full"])
    for book in (lazy, eager):
        with pytest.raises(dataclasses.FrozenInstanceError):
            book.last = 1.0  # type: ignore[misc]
