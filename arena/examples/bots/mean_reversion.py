"""Mean reversion: buy when the mid falls well below its recent average, sell when it recovers."""

from collections import deque

from arena_bot import Book, Bot, run


class MeanReversion(Bot):
    symbols = ("ETH-USD", "MSFT")
    channels = ("orderbook",)  # books only: less for the bot to parse each tick
    window = 40
    entry = 2.0  # standard deviations below the mean to buy
    fraction = 0.08  # of NAV per position

    def on_start(self, info: dict) -> None:
        self.mids: dict[str, deque[float]] = {s: deque(maxlen=self.window) for s in self.symbols}

    def on_book(self, book: Book) -> None:
        if book.mid is not None and book.symbol in self.mids:
            self.mids[book.symbol].append(book.mid)

    def on_tick(self, ts: int) -> None:
        for symbol, mids in self.mids.items():
            if len(mids) < self.window or any(o["symbol"] == symbol for o in self.open_orders.values()):
                continue
            mean = sum(mids) / len(mids)
            std = (sum((m - mean) ** 2 for m in mids) / len(mids)) ** 0.5
            held = self.portfolio.position(symbol)
            if held == 0 and std > 0 and mids[-1] < mean - self.entry * std:
                qty = self.portfolio.nav * self.fraction / mids[-1]
                qty = round(qty, 4) if symbol.endswith("-USD") else int(qty)
                if qty > 0:
                    self.buy(symbol, qty)
            elif held > 0 and mids[-1] >= mean:
                self.sell(symbol, held)


if __name__ == "__main__":
    run(MeanReversion)
