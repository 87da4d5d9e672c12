"""Buys 0.01 BTC-USD at market on every tick: each of its orders must reach the engine."""

from arena_bot import Bot, run


class SteadyBuyer(Bot):
    symbols = ("BTC-USD",)

    def on_tick(self, ts: int) -> None:
        self.buy("BTC-USD", 0.01)


if __name__ == "__main__":
    run(SteadyBuyer)
