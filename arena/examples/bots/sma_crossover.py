"""SMA crossover: long while the fast moving average of the mid is above the slow one, flat otherwise."""

from collections import deque

from arena_bot import Book, Bot, OrderUpdate, run


class SmaCrossover(Bot):
    symbols = ("AAPL", "MSFT", "BTC-USD")
    channels = ("orderbook",)  # books only: less for the bot to parse each tick
    fast, slow = 10, 30
    fraction = 0.1  # of NAV per symbol while long

    def on_start(self, info: dict) -> None:
        self.mids: dict[str, deque[float]] = {s: deque(maxlen=self.slow) for s in self.symbols}

    def on_book(self, book: Book) -> None:
        if book.mid is not None and book.symbol in self.mids:
            self.mids[book.symbol].append(book.mid)

    def on_tick(self, ts: int) -> None:
        for symbol, mids in self.mids.items():
            if len(mids) < self.slow or any(o["symbol"] == symbol for o in self.open_orders.values()):
                continue
            fast = sum(list(mids)[-self.fast :]) / self.fast
            slow = sum(mids) / self.slow
            held = self.portfolio.position(symbol)
            if fast > slow and held <= 0:
                qty = self.portfolio.nav * self.fraction / mids[-1]
                qty = round(qty, 4) if symbol.endswith("-USD") else int(qty)
                if qty > 0:
                    self.buy(symbol, qty)
            elif fast < slow and held > 0:
                self.sell(symbol, held)

    def on_order_update(self, update: OrderUpdate) -> None:
        if update.status == "rejected":
            self.log(f"{update.symbol}: {update.code} {update.message}")


if __name__ == "__main__":
    run(SmaCrossover)
