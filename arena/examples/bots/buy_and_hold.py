"""Buy and hold: put a fifth of the account into SPY on the first tick, then wait."""

from arena_bot import Bot, run


class BuyAndHold(Bot):
    symbols = ("SPY",)
    channels = ("orderbook",)  # books only: less for the bot to parse each tick
    fraction = 0.2

    def on_tick(self, ts: int) -> None:
        book = self.books.get("SPY")
        if book is None or book.mid is None or self.portfolio.position("SPY") or self.open_orders:
            return
        qty = int(self.portfolio.nav * self.fraction / book.mid)
        if qty > 0:
            self.buy("SPY", qty)


if __name__ == "__main__":
    run(BuyAndHold)
