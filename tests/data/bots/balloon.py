"""Allocates memory without bound from its third tick: the sandbox must end it as oom."""

from arena_bot import Bot, run


class Balloon(Bot):
    symbols = ("BTC-USD",)

    def on_start(self, info: dict) -> None:
        self.hoard: list[bytes] = []

    def on_tick(self, ts: int) -> None:
        if self.tick_n >= 3:
            for _ in range(10_000):  # bounded: 10 GB at most, far past any limit
                self.hoard.append(b"x" * (1 << 20))


if __name__ == "__main__":
    run(Balloon)
