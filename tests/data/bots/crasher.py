"""Trades a little, then dies with exit code 3 on its fifth tick."""

import os

from arena_bot import Bot, run


class Crasher(Bot):
    symbols = ("BTC-USD",)

    def on_tick(self, ts: int) -> None:
        if self.tick_n == 2:
            self.buy("BTC-USD", 0.05)
        if self.tick_n >= 5:
            os._exit(3)


if __name__ == "__main__":
    run(Crasher)
