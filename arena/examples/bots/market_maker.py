"""A simple market maker: quote post-only bid and ask around the mid, skewed against inventory.

Every tick it cancels its quotes and re-quotes; a fill moves the skew so inventory drifts back
toward zero. Post-only orders never take liquidity, so they pay maker fees.
"""

from arena_bot import Bot, OrderUpdate, run


class MarketMaker(Bot):
    symbols = ("ETH-USD",)
    channels = ("orderbook",)  # books only: less for the bot to parse each tick
    quote_qty = 2.0
    half_spread = 0.0008  # quote 8 bps either side of mid
    max_inventory = 20.0

    def on_tick(self, ts: int) -> None:
        book = self.books.get("ETH-USD")
        if book is None or book.mid is None or book.best_bid is None or book.best_ask is None:
            return
        for client_id in list(self.open_orders):
            self.cancel(client_id)
            self.open_orders.pop(client_id)
        inventory = self.portfolio.position("ETH-USD")
        skew = -inventory / self.max_inventory * self.half_spread
        # On the tick grid, each side rounded away from the mid (a quote never tighter than intended).
        bid = self.round_price("ETH-USD", book.mid * (1 - self.half_spread + skew), "buy")
        ask = self.round_price("ETH-USD", book.mid * (1 + self.half_spread + skew), "sell")
        if inventory < self.max_inventory and bid < book.best_ask:
            self.buy("ETH-USD", self.quote_qty, limit=bid, post_only=True)
        if inventory > -self.max_inventory and ask > book.best_bid:
            self.sell("ETH-USD", self.quote_qty, limit=ask, post_only=True)

    def on_order_update(self, update: OrderUpdate) -> None:
        if update.status == "rejected" and update.code not in ("POST_ONLY_WOULD_CROSS", "UNKNOWN_ORDER"):
            self.log(f"{update.code}: {update.message}")


if __name__ == "__main__":
    run(MarketMaker)
