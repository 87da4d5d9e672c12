"""A test bot: on its first ticks it sends one of each kind of order, good and bad, and records what comes back."""

from arena_bot import Bot, InsufficientMarginError, OrderUpdate


class EveryOrder(Bot):
    symbols = ("BTC-USD",)

    def on_start(self, info: dict) -> None:
        self.updates: list[OrderUpdate] = []
        self.errors: list[Exception] = []
        self.fills = []
        self.step = 0

    def on_tick(self, ts: int) -> None:
        self.step += 1
        book = self.books["BTC-USD"]
        if self.step == 1:
            self.buy("BTC-USD", 0.5)
            self.buy("BTC-USD", 0.1, limit=round(book.best_bid - 100, 2), client_order_id="resting")
            self.sell("BTC-USD", 0.1, stop_price=round(book.mid * 0.5, 2))
            self.buy("BTC-USD", 5)  # half the NAV in one position: over the 25% cap
            self.buy("BTC-USD", 1_000)  # more than the whole visible book
            self.place("BTC-USD", "buy", 1, order_type="market", tif="forever")
        elif self.step == 2:
            self.cancel("resting")
            self.cancel("never-sent")

    def on_fill(self, fill) -> None:
        self.fills.append(fill)

    def on_order_update(self, update: OrderUpdate) -> None:
        self.updates.append(update)
        try:
            update.raise_for_status()
        except InsufficientMarginError as exc:
            self.errors.append(exc)
        except Exception as exc:
            self.errors.append(exc)
