"""Mean reversion: buy when the price falls well below its recent average, sell when it recovers."""

from arena_bot import Bot, run


class MeanReversion(Bot):
    symbols = ("ETH-USD", "MSFT")
    channels = ("orderbook",)  # books only: less for the bot to parse each tick
    window = 40
    history_size = window
    entry = 2.0  # standard deviations below the mean to buy
    fraction = 0.08  # of NAV per position

    def on_tick(self, ts: int) -> None:
        for symbol in self.symbols:
            closes = [bar.close for bar in self.history(symbol, self.window)]
            if len(closes) < self.window or self.orders_for(symbol):
                continue
            mean = sum(closes) / len(closes)
            std = (sum((c - mean) ** 2 for c in closes) / len(closes)) ** 0.5
            held = self.portfolio.position(symbol)
            if held == 0 and std > 0 and closes[-1] < mean - self.entry * std:
                self.order_target_percent(symbol, self.fraction)  # rounded to the symbol's lot
            elif held > 0 and closes[-1] >= mean:
                self.order_target_qty(symbol, 0)


if __name__ == "__main__":
    run(MeanReversion)
