"""Logs every session change and margin warning it is told about, and leans on leverage to earn one."""

from arena_bot import Bot, run


class Watcher(Bot):
    symbols = ("BTC-USD", "SPY")

    def on_status(self, status) -> None:
        self.log(f"status {status.venue} {status.status}")

    def on_margin_warning(self, warning) -> None:
        self.log(f"margin {warning.utilization:.2f}")

    def on_tick(self, ts: int) -> None:
        if self.tick_n == 1:
            book = self.books["BTC-USD"]
            self.buy("BTC-USD", round(self.portfolio.nav * 0.9 / book.best_ask, 4))


if __name__ == "__main__":
    run(Watcher)
