"""L2Book: the displayed depth of one instrument at one moment (price levels, best first)."""

from __future__ import annotations

from dataclasses import dataclass

Level = tuple[float, float]  # (price, size)
Sides = tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]  # bid prices, ask prices, the sizes they share


@dataclass(frozen=True, slots=True, init=False, eq=False, repr=False)
class L2Book:
    """A book's levels are ``bids`` and ``asks``. A book built by a ladder (arena.feeds.ladder) keeps them as its
    ``sides`` instead, each side's prices and the sizes both share, and zips them on first use: a backtest reads
    the touch and the depth's totals of most books (which need no level), and the levels of the few it fills on.
    Equality, hash, repr and pickling see the levels: such a book is the one its zipped levels make."""

    symbol: str
    ts: int
    last: float | None
    volume: float  # traded since the previous update of this symbol
    halted: bool  # trading in the symbol is halted (the book is shown, nothing trades)
    _bids: tuple[Level, ...] | None  # best (highest) first; None until zipped from _sides
    _asks: tuple[Level, ...] | None  # best (lowest) first
    _sides: Sides | None

    def __init__(self, symbol: str, ts: int, bids: tuple[Level, ...], asks: tuple[Level, ...],
                 last: float | None = None, volume: float = 0.0, halted: bool = False,
                 sides: Sides | None = None) -> None:  # fmt: skip
        # The fields set one by one, as a frozen dataclass's own __init__ does: compiled, mypyc sets them directly
        # (over ten times faster), where the generated one stays interpreted. With ``sides``, bids and asks are
        # left for them to make (pass ()). ``sides`` may come by position: compiled, a call naming an argument
        # costs twice one that does not (a replay makes two books a bar).
        object.__setattr__(self, "symbol", symbol)
        object.__setattr__(self, "ts", ts)
        object.__setattr__(self, "last", last)
        object.__setattr__(self, "volume", volume)
        object.__setattr__(self, "halted", halted)
        object.__setattr__(self, "_sides", sides)
        object.__setattr__(self, "_bids", None if sides is not None else bids)
        object.__setattr__(self, "_asks", None if sides is not None else asks)

    @property
    def bids(self) -> tuple[Level, ...]:
        bids = self._bids
        return self._zipped(0) if bids is None else bids

    @property
    def asks(self) -> tuple[Level, ...]:
        asks = self._asks
        return self._zipped(1) if asks is None else asks

    def _zipped(self, side: int) -> tuple[Level, ...]:
        """Side ``side`` (0 bids, 1 asks) of a ladder's book, its levels made once (a side with fewer prices than
        sizes stops early)."""
        sides = self._sides
        assert sides is not None
        levels = tuple(zip(sides[side], sides[2], strict=False))
        if side == 0:
            object.__setattr__(self, "_bids", levels)
        else:
            object.__setattr__(self, "_asks", levels)
        return levels

    def top_bid(self) -> Level | None:
        """The best bid level (``bids[0]``), None on an empty side; without zipping a ladder's levels."""
        return self._top(self._bids, 0)

    def top_ask(self) -> Level | None:
        """The best ask level (``asks[0]``), None on an empty side."""
        return self._top(self._asks, 1)

    def bid_total(self) -> float:
        """The bid levels' total size (added in order, as a loop over ``bids`` does)."""
        sides = self._sides
        return total_size(self.bids) if sides is None else _sum(sides[2], len(sides[0]))

    def ask_total(self) -> float:
        """The ask levels' total size."""
        sides = self._sides
        return total_size(self.asks) if sides is None else _sum(sides[2], len(sides[1]))

    def _top(self, levels: tuple[Level, ...] | None, side: int) -> Level | None:
        sides = self._sides
        if sides is None:
            return levels[0] if levels else None
        prices, sizes = sides[side], sides[2]
        return (prices[0], sizes[0]) if prices and sizes else None

    @property
    def best_bid(self) -> float:
        sides = self._sides
        return self.bids[0][0] if sides is None else sides[0][0]

    @property
    def best_ask(self) -> float:
        sides = self._sides
        return self.asks[0][0] if sides is None else sides[1][0]

    @property
    def mid(self) -> float:
        return (self.best_bid + self.best_ask) / 2.0

    @property
    def spread(self) -> float:
        """Spread relative to mid (a fraction, not basis points)."""
        mid = self.mid
        return (self.best_ask - self.best_bid) / mid

    # What the dataclass would generate with eq and repr on, over (symbol, ts, bids, asks, last, volume, halted).
    def _key(self) -> tuple[str, int, tuple[Level, ...], tuple[Level, ...], float | None, float, bool]:
        return (self.symbol, self.ts, self.bids, self.asks, self.last, self.volume, self.halted)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, L2Book):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"L2Book(symbol={self.symbol!r}, ts={self.ts!r}, bids={self.bids!r}, asks={self.asks!r}, "
                f"last={self.last!r}, volume={self.volume!r}, halted={self.halted!r})")  # fmt: skip

    def __reduce__(self) -> tuple[type[L2Book], tuple[str, int, tuple[Level, ...], tuple[Level, ...], float | None,
                                                      float, bool]]:  # fmt: skip
        return (L2Book, self._key())


def total_size(levels: tuple[Level, ...]) -> float:
    """The levels' total size. A loop, not sum(): Python 3.12's sum() of floats rounds differently, and the
    compiled engine must add exactly as the interpreted one does."""
    total = 0.0
    for level in levels:
        total += level[1]
    return total


def _sum(sizes: tuple[float, ...], count: int) -> float:
    """The first ``count`` sizes' total, added as ``total_size`` adds them."""
    total = 0.0
    for size in sizes[:count]:
        total += size
    return total
