"""Does nothing: its account must stay untouched."""

from arena_bot import Bot, run


class Victim(Bot):
    symbols = ("BTC-USD",)


if __name__ == "__main__":
    run(Victim)
