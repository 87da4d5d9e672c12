"""Hostile: every order claims another tournament and another bot's account."""

from arena_bot import Bot, run


class Forger(Bot):
    symbols = ("BTC-USD",)

    def on_tick(self, ts: int) -> None:
        self.buy("BTC-USD", 0.01)
        # Raw protocol lines with a forged context and account; the SDK would not write these itself.
        self._outbox.append(
            {"type": "order", "order_type": "market", "symbol": "BTC-USD", "side": "buy", "qty": 0.02,
             "context": {"type": "tournament", "id": "someone-elses"}, "account": "victim"}
        )  # fmt: skip


if __name__ == "__main__":
    run(Forger)
