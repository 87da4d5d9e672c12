"""Market: one instrument's displayed book, its rolling volume, and each account's use of it.

Every account faces the same market (a "duplicate market"): a fill consumes depth only in the
filling account's own view, tracked per price level, and that consumption fades at each book
refresh as the displayed liquidity replenishes.
"""

from __future__ import annotations

from collections import deque

from arena.engine.book import L2Book, Level
from arena.engine.instruments import Instrument


class Consumption:
    """One account's use of one side of the book: size taken per price level, and their total.

    Invariant: no level's consumption exceeds that level's displayed size.
    """

    __slots__ = ("levels", "total")

    def __init__(self) -> None:
        self.levels: dict[float, float] = {}
        self.total = 0.0


class Market:
    __slots__ = (
        "_consumed",
        "_volume_sum",
        "_volumes",
        "ask_depth",
        "bid_depth",
        "book",
        "halted",
        "instrument",
        "mark",
        "v_avg",
    )

    def __init__(self, instrument: Instrument, volume_window: int = 20) -> None:
        self.instrument = instrument
        self.book: L2Book | None = None
        self.halted = False  # the last book said trading is halted
        self.mark: float | None = None  # the mid, which positions are valued at
        self.v_avg = 0.0
        self.ask_depth = 0.0
        self.bid_depth = 0.0
        self._volumes: deque[float] = deque(maxlen=volume_window)
        self._volume_sum = 0.0
        # (account, sign of the taking order) -> consumption of the opposite side's levels
        self._consumed: dict[tuple[str, int], Consumption] = {}

    def update(self, book: L2Book, replenish: dict[str, float]) -> None:
        """A new book arrives: re-mark, roll the volume average, replenish consumed depth.

        ``replenish`` maps an account to the share of its consumption restored per refresh.
        """
        self.book = book
        self.halted = book.halted
        self.mark = (book.bids[0][0] + book.asks[0][0]) * 0.5
        self.ask_depth = sum(size for _, size in book.asks)
        self.bid_depth = sum(size for _, size in book.bids)
        volumes = self._volumes
        if len(volumes) == volumes.maxlen:
            self._volume_sum -= volumes[0]
        volumes.append(book.volume)
        self._volume_sum += book.volume
        self.v_avg = self._volume_sum / len(volumes)
        if self._consumed:
            self._replenish(book, replenish)

    def _replenish(self, book: L2Book, replenish: dict[str, float]) -> None:
        sides = {1: dict(book.asks), -1: dict(book.bids)}
        for key in list(self._consumed):
            keep = 1.0 - replenish.get(key[0], 1.0)
            sizes = sides[key[1]]
            consumption = self._consumed[key]
            faded: dict[float, float] = {}
            total = 0.0
            for price, used in consumption.levels.items():
                size = sizes.get(price)
                if size is None:
                    continue  # the level left the book; a new one there starts fresh
                used *= keep
                if used > 1e-12:
                    used = min(used, size)
                    faded[price] = used
                    total += used
            if faded:
                consumption.levels = faded
                consumption.total = total
            else:
                del self._consumed[key]

    def opposite(self, sign: int) -> tuple[Level, ...]:
        assert self.book is not None
        return self.book.asks if sign > 0 else self.book.bids

    def visible_depth(self, sign: int) -> float:
        """Displayed size on the side a buy (+1) or sell (−1) takes from."""
        return self.ask_depth if sign > 0 else self.bid_depth

    def available(self, account: str, sign: int, levels: tuple[Level, ...]) -> float:
        """Displayed size on ``levels`` that ``account`` has not consumed yet."""
        full = levels is (self.book.asks if sign > 0 else self.book.bids)  # type: ignore[union-attr]
        consumption = self._consumed.get((account, sign))
        if consumption is None:
            return self.visible_depth(sign) if full else sum(size for _, size in levels)
        if full:
            return self.visible_depth(sign) - consumption.total
        used = consumption.levels
        return sum(size - used.get(price, 0.0) for price, size in levels)

    def consume(self, account: str, sign: int, levels: tuple[Level, ...], qty: float) -> None:
        """Record that ``account`` took ``qty`` from ``levels``, best level first."""
        consumption = self._consumed.get((account, sign))
        if consumption is None:
            consumption = self._consumed[(account, sign)] = Consumption()
        used = consumption.levels
        consumption.total += qty
        for price, size in levels:
            if qty <= 0:
                break
            free = size - used.get(price, 0.0)
            if free <= 0:
                continue
            take = free if free < qty else qty
            used[price] = used.get(price, 0.0) + take
            qty -= take

    def consumed(self, account: str, sign: int) -> float:
        consumption = self._consumed.get((account, sign))
        return consumption.total if consumption is not None else 0.0
