"""TWAP executor: buy a large parent order in equal slices, one per tick, each capped by a limit price.

Slicing keeps each child small against the displayed depth, so the slippage model charges less
than one big market order would.
"""

from arena_bot import Bot, OrderUpdate, run


class Twap(Bot):
    symbols = ("NVDA",)
    channels = ("orderbook",)  # books only: less for the bot to parse each tick
    target_fraction = 0.2  # of NAV, bought over `slices` ticks
    slices = 60
    max_premium = 0.002  # never pay more than mid + 0.2%

    def on_start(self, info: dict) -> None:
        self.parent_qty: float | None = None
        self.bought = 0.0
        self.sliced = 0

    def on_tick(self, ts: int) -> None:
        book = self.books.get("NVDA")
        if book is None or book.mid is None or self.sliced >= self.slices:
            return
        if self.parent_qty is None:
            self.parent_qty = self.round_qty("NVDA", self.portfolio.nav * self.target_fraction / book.mid)
        left = self.parent_qty - self.bought
        child = self.round_qty("NVDA", left / (self.slices - self.sliced))
        self.sliced += 1
        if child > 0:
            limit = self.round_price("NVDA", book.mid * (1 + self.max_premium), "buy")
            self.buy("NVDA", child, limit=limit, tif="ioc")

    def on_order_update(self, update: OrderUpdate) -> None:
        if update.status in ("filled", "cancelled"):
            self.bought = self.portfolio.position("NVDA") if update.status == "cancelled" else self.bought
        if update.status == "rejected":
            self.log(f"slice rejected: {update.code} {update.message}")

    def on_fill(self, fill) -> None:
        self.bought += fill.qty


if __name__ == "__main__":
    run(Twap)
