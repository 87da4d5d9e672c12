"""Holds 160 MiB from its third tick on (written, so resident): within a roomy memory limit it finishes, under a
tight one the sandbox ends it as oom."""

from arena_bot import Bot, run


class Heavy(Bot):
    symbols = ("BTC-USD",)

    def on_tick(self, ts: int) -> None:
        if self.tick_n == 3:
            self.hoard = b"x" * (160 << 20)


if __name__ == "__main__":
    run(Heavy)
