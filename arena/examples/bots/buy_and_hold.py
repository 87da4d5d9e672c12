"""Buy and hold: put a fifth of the account into SPY on the first tick, then wait."""

from arena_bot import Bot, run


class BuyAndHold(Bot):
    symbols = ("SPY",)
    channels = ("orderbook",)  # books only: less for the bot to parse each tick
    fraction = 0.2

    def on_tick(self, ts: int) -> None:
        if not self.portfolio.position("SPY") and not self.open_orders:
            self.order_target_percent("SPY", self.fraction)  # whole shares: SPY's lot is 1


if __name__ == "__main__":
    run(BuyAndHold)
