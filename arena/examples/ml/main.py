"""A bot that trades on a model's predictions: a logistic regression (scikit-learn) exported as ONNX, run by
onnxruntime. It ships its model beside it (model.onnx, trained on real daily bars by
scripts/train_example_model.py) and loads it when created, so a model that does not load fails the upload's
smoke test with onnxruntime's own message.

Each tick, for each symbol, the model reads three scale-free features of the recent mids (the last 1-, 3- and
10-step returns in units of the recent volatility) and gives the probability that the next step is up; the bot
holds a position while that probability is high enough and goes flat when it falls low.

Upload it as an archive of this folder (main.py and model.onnx): ``tar czf ml-bot.tar.gz -C examples/ml .``
"""

import math
from collections import deque
from pathlib import Path

import numpy as np
import onnxruntime as ort
from arena_bot import Book, Bot, OrderUpdate, run

MODEL = Path(__file__).with_name("model.onnx")
LAGS = (1, 3, 10)  # the returns the model reads, in steps
WINDOW = 10  # 1-step returns the volatility is measured over


def features(prices: list[float]) -> list[float] | None:
    """The model's input for the latest of ``prices`` (oldest first), or None until there are enough.

    Plain float arithmetic (+, -, *, / and sqrt, each exactly rounded by IEEE 754; no vectorised maths): the same
    bits on any machine, so the backtest and the tournament feed the model the same numbers.
    scripts/train_example_model.py trains on it.
    """
    if len(prices) <= max(max(LAGS), WINDOW):
        return None
    steps = [prices[-i] / prices[-i - 1] - 1.0 for i in range(1, WINDOW + 1)]
    volatility = math.sqrt(sum(r * r for r in steps) / WINDOW)
    if volatility == 0.0:
        return None
    return [(prices[-1] / prices[-1 - lag] - 1.0) / (volatility * math.sqrt(lag)) for lag in LAGS]


class OnnxTrend(Bot):
    symbols = ("AAPL", "MSFT", "NVDA")
    channels = ("orderbook",)
    enter, leave = 0.505, 0.485  # probability of an up step: buy above enter, sell below leave
    fraction = 0.1  # of NAV per position

    def __init__(self) -> None:
        super().__init__()
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1  # one core in the sandbox; same order
        self.model = ort.InferenceSession(str(MODEL), options, providers=["CPUExecutionProvider"])
        self.input = self.model.get_inputs()[0].name
        self.mids: dict[str, deque[float]] = {s: deque(maxlen=max(max(LAGS), WINDOW) + 1) for s in self.symbols}

    def on_book(self, book: Book) -> None:
        if book.mid is not None and book.symbol in self.mids:
            self.mids[book.symbol].append(book.mid)

    def predict(self, rows: list[list[float]]) -> list[float]:
        """P(up) for each row of features, in one call to the model."""
        _labels, probabilities = self.model.run(None, {self.input: np.array(rows, dtype=np.float32)})
        return [float(p[1]) for p in probabilities]

    def on_tick(self, ts: int) -> None:
        ready = {s: f for s, mids in self.mids.items() if (f := features(list(mids))) is not None
                 and not any(o["symbol"] == s for o in self.open_orders.values())}
        if not ready:
            return
        for (symbol, _), up in zip(ready.items(), self.predict(list(ready.values())), strict=True):
            held = self.portfolio.position(symbol)
            if up > self.enter and held <= 0:
                qty = int(self.portfolio.nav * self.fraction / self.mids[symbol][-1])
                if qty > 0:
                    self.buy(symbol, qty)
            elif up < self.leave and held > 0:
                self.sell(symbol, held)

    def on_order_update(self, update: OrderUpdate) -> None:
        if update.status == "rejected":
            self.log(f"{update.symbol}: {update.code} {update.message}")


if __name__ == "__main__":
    run(OnnxTrend)
