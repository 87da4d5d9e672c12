"""SMA crossover: long while the fast moving average of the price is above the slow one, flat otherwise."""

from arena_bot import Bot, OrderUpdate, run


class SmaCrossover(Bot):
    symbols = ("AAPL", "MSFT", "BTC-USD")
    channels = ("orderbook",)  # books only: less for the bot to parse each tick
    fast, slow = 10, 30
    history_size = slow  # one bar per tick: the price at its close
    fraction = 0.1  # of NAV per symbol while long

    def on_tick(self, ts: int) -> None:
        for symbol in self.symbols:
            closes = [bar.close for bar in self.history(symbol, self.slow)]
            if len(closes) < self.slow or self.orders_for(symbol):
                continue
            fast = sum(closes[-self.fast :]) / self.fast
            slow = sum(closes) / self.slow
            held = self.portfolio.position(symbol)
            if fast > slow and held <= 0:
                self.order_target_percent(symbol, self.fraction)  # rounded to the symbol's lot
            elif fast < slow and held > 0:
                self.order_target_qty(symbol, 0)

    def on_order_update(self, update: OrderUpdate) -> None:
        if update.status == "rejected":
            self.log(f"{update.symbol}: {update.code} {update.message}")


if __name__ == "__main__":
    run(SmaCrossover)
