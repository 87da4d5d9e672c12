"""Market: one instrument's displayed book, its rolling volume, and each account's use of it.

Every account faces the same market (a "duplicate market"): a fill consumes depth only in the
filling account's own view, tracked per price level, and that consumption fades at each book
refresh as the displayed liquidity replenishes.
"""

from __future__ import annotations

from collections import deque

from arena.engine.book import L2Book, Level
from arena.engine.book import total_size as _total
from arena.engine.instruments import Instrument


class Consumption:
    """One account's use of one side of the book: size taken per price level, and their total.

    Invariant: no level's consumption exceeds that level's displayed size.
    """

    __slots__ = ("account", "keep", "levels", "sign", "total")

    def __init__(self, account: str = "", sign: int = 0) -> None:
        self.account = account
        self.sign = sign  # of the taking orders: +1 consumed asks, -1 bids
        self.levels: dict[float, float] = {}
        self.total = 0.0
        self.keep = -1.0  # the share kept per refresh (1 − the account's replenish rate); set at the first refresh


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

    def update(self, book: L2Book, replenish: dict[str, float]) -> float:
        """A new book arrives: re-mark, roll the volume average, replenish consumed depth. Returns the mark.

        ``replenish`` maps an account to the share of its consumption restored per refresh.
        """
        self.book = book
        self.halted = book.halted
        mark = self.mark = (book.best_bid + book.best_ask) * 0.5
        self.ask_depth = book.ask_total()  # (a replayed book's levels are left unmade: see L2Book)
        self.bid_depth = book.bid_total()
        volumes = self._volumes
        if len(volumes) == volumes.maxlen:
            self._volume_sum -= volumes[0]
        volumes.append(book.volume)
        self._volume_sum += book.volume
        self.v_avg = self._volume_sum / len(volumes)
        if self._consumed:
            self._replenish(book, replenish)
        return mark

    def _replenish(self, book: L2Book, replenish: dict[str, float]) -> None:
        asks: dict[float, float] | None = None
        bids: dict[float, float] | None = None
        spent: list[Consumption] = []
        for consumption in self._consumed.values():
            keep = consumption.keep
            if keep < 0.0:  # an account's rate never changes: looked up once
                keep = consumption.keep = 1.0 - replenish.get(consumption.account, 1.0)
            if consumption.sign > 0:
                sizes = asks = dict(book.asks) if asks is None else asks
            else:
                sizes = bids = dict(book.bids) if bids is None else bids
            # Faded in place (values only while iterating; then the levels that went), keeping the order.
            levels = consumption.levels
            gone: list[float] | None = None
            total = 0.0
            for price, used in levels.items():
                size = sizes.get(price)
                if size is not None:
                    used *= keep
                    if used > 1e-12:
                        used = size if size < used else used  # min(used, size)
                        levels[price] = used
                        total += used
                        continue
                # the level left the book (a new one there starts fresh), or its use faded away
                if gone is None:
                    gone = [price]
                else:
                    gone.append(price)
            if gone is not None:
                for price in gone:
                    del levels[price]
            if levels:
                consumption.total = total
            else:
                spent.append(consumption)
        for consumption in spent:
            del self._consumed[(consumption.account, consumption.sign)]

    def opposite(self, sign: int) -> tuple[Level, ...]:
        assert self.book is not None
        return self.book.asks if sign > 0 else self.book.bids

    def visible_depth(self, sign: int) -> float:
        """Displayed size on the side a buy (+1) or sell (−1) takes from."""
        return self.ask_depth if sign > 0 else self.bid_depth

    def available(self, account: str, sign: int, levels: tuple[Level, ...]) -> float:
        """Displayed size on ``levels`` that ``account`` has not consumed yet."""
        full = levels is (self.book.asks if sign > 0 else self.book.bids)  # type: ignore[union-attr]  # set while matching
        consumption = self._consumed.get((account, sign))
        if consumption is None:
            return self.visible_depth(sign) if full else _total(levels)
        if full:
            return self.visible_depth(sign) - consumption.total
        used = consumption.levels
        free = 0.0
        for price, size in levels:
            free += size - used.get(price, 0.0)
        return free

    def consume(self, account: str, sign: int, levels: tuple[Level, ...], qty: float) -> None:
        """Record that ``account`` took ``qty`` from ``levels``, best level first."""
        consumption = self._consumed.get((account, sign))
        if consumption is None:
            consumption = self._consumed[(account, sign)] = Consumption(account, sign)
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
