"""Book: the bot's local copy of one symbol's L2 book, kept from a snapshot plus deltas."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class SequenceGap(Exception):
    """A delta skipped a sequence number: the book is stale until the next snapshot."""


class Book:
    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.bids: list[tuple[float, float]] = []  # best (highest) first
        self.asks: list[tuple[float, float]] = []  # best (lowest) first
        self.last: float | None = None
        self.ts = 0
        self.seq = -1
        self.stale = True  # until the first snapshot, or after a gap

    @property
    def best_bid(self) -> float | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> float | None:
        return self.asks[0][0] if self.asks else None

    @property
    def mid(self) -> float | None:
        if not self.bids or not self.asks:
            return None
        return (self.bids[0][0] + self.asks[0][0]) / 2

    @property
    def spread(self) -> float | None:
        """Best ask minus best bid, in price units."""
        if not self.bids or not self.asks:
            return None
        return self.asks[0][0] - self.bids[0][0]

    def apply_snapshot(
        self,
        seq: int,
        bids: Iterable[Sequence[float]],
        asks: Iterable[Sequence[float]],
        ts: int = 0,
        last: float | None = None,
    ) -> None:
        self.bids = sorted(((float(p), float(s)) for p, s in bids), reverse=True)
        self.asks = sorted((float(p), float(s)) for p, s in asks)
        self.seq, self.ts, self.last, self.stale = seq, ts, last, False

    def apply_delta(
        self,
        seq: int,
        bids: Iterable[Sequence[float]] = (),
        asks: Iterable[Sequence[float]] = (),
        ts: int = 0,
        last: float | None = None,
    ) -> None:
        """Apply level changes (size 0 removes a level). Raises SequenceGap on a missed delta."""
        if self.stale or seq != self.seq + 1:
            self.stale = True
            raise SequenceGap(f"{self.symbol}: expected seq {self.seq + 1}, got {seq}")
        self.bids = _merge(self.bids, bids, reverse=True)
        self.asks = _merge(self.asks, asks, reverse=False)
        self.seq, self.ts = seq, ts
        if last is not None:
            self.last = last


def _merge(
    levels: list[tuple[float, float]], changes: Iterable[Sequence[float]], reverse: bool
) -> list[tuple[float, float]]:
    book = dict(levels)
    for price, size in changes:
        if size:
            book[float(price)] = float(size)
        else:
            book.pop(float(price), None)
    return sorted(book.items(), reverse=reverse)
