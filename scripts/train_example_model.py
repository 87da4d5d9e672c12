"""Train the example ML bot's model (arena/examples/ml/model.onnx) on real daily bars and write it as ONNX.

    .venv/bin/python scripts/train_example_model.py       # on ../shared/data's bars (1995-2014) where present
    .venv/bin/python scripts/train_example_model.py --data tests/data/equities-daily-sample.csv  # its 2013-14 slice

The committed model was trained on the shared data set's full file (ORCL, NVDA, YHOO; 13,760 days).

For every symbol in the CSV (columns ts,symbol,open,high,low,close,volume), each day's features are the bot's own
(``features`` in arena/examples/ml/main.py, over the closes so far) and its label is whether the next close is
higher. A standardising scaler and a logistic regression (scikit-learn) are fitted on the first 80% of each
symbol's days and scored on the rest, then converted with skl2onnx (probabilities as a plain tensor, no ZipMap)
and checked: onnxruntime must give scikit-learn's probabilities. Prints one JSON object. Needs the `ml` extra and
skl2onnx (both in `dev`).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "arena" / "examples" / "ml" / "main.py"
SHARED_DATA = ROOT.parent / "shared" / "data" / "equities-daily-1995-2014.csv"
SAMPLE_DATA = ROOT / "tests" / "data" / "equities-daily-sample.csv"  # a slice of it, in the repository
TRAIN_SHARE = 0.8
# ONNX opsets onnxruntime 1.30 runs; fixed so that a newer skl2onnx writes the same model.
OPSETS = {"": 15, "ai.onnx.ml": 3}


def bot_features() -> tuple[Callable[[list[float]], list[float] | None], tuple[int, ...], int]:
    """The bot's feature function, from the bot file itself (one definition for training and trading)."""
    spec = importlib.util.spec_from_file_location("example_ml_bot", BOT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.features, module.LAGS, module.WINDOW


def closes_by_symbol(path: Path) -> dict[str, list[float]]:
    closes: dict[str, list[tuple[str, float]]] = defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            closes[row["symbol"]].append((row["ts"], float(row["close"])))
    return {symbol: [c for _, c in sorted(rows)] for symbol, rows in sorted(closes.items())}


def dataset(closes: dict[str, list[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    features, lags, window = bot_features()
    history = max(max(lags), window) + 1
    train_x: list[list[float]] = []
    test_x: list[list[float]] = []
    train_y: list[int] = []
    test_y: list[int] = []
    for prices in closes.values():
        rows: list[tuple[list[float], int]] = []
        for t in range(history - 1, len(prices) - 1):
            row = features(prices[t + 1 - history:t + 1])
            if row is not None:
                rows.append((row, int(prices[t + 1] > prices[t])))
        split = int(len(rows) * TRAIN_SHARE)
        for i, (row, label) in enumerate(rows):
            (train_x if i < split else test_x).append(row)
            (train_y if i < split else test_y).append(label)
    return (np.array(train_x, dtype=np.float32), np.array(train_y), np.array(test_x, dtype=np.float32),
            np.array(test_y))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA if SHARED_DATA.is_file() else SAMPLE_DATA,
                        help="daily bars CSV (ts,symbol,...,close,...)")
    parser.add_argument("--out", type=Path, default=BOT.with_name("model.onnx"), help="where to write the model")
    args = parser.parse_args(argv)

    train_x, train_y, test_x, test_y = dataset(closes_by_symbol(args.data))
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0))
    model.fit(train_x, train_y)
    onnx_model = to_onnx(model, train_x[:1], options={id(model.steps[-1][1]): {"zipmap": False}},
                         target_opset=OPSETS)
    onnx_model.doc_string = f"P(next close > close) from {LAGS_TEXT}; trained on {args.data.name}"
    data = onnx_model.SerializeToString()

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    _labels, probabilities = session.run(None, {session.get_inputs()[0].name: test_x})
    expected = model.predict_proba(test_x)
    if not np.allclose(probabilities, expected, atol=1e-5):
        print("onnxruntime's probabilities differ from scikit-learn's", file=sys.stderr)
        return 1
    args.out.write_bytes(data)
    print(json.dumps({"model": str(args.out), "bytes": len(data), "train_rows": len(train_x),
                      "test_rows": len(test_x), "train_accuracy": round(float(model.score(train_x, train_y)), 4),
                      "test_accuracy": round(float(model.score(test_x, test_y)), 4),
                      "up_share_test": round(float(test_y.mean()), 4),
                      "coefficients": [round(float(c), 4) for c in model.steps[-1][1].coef_[0]]}))
    return 0


LAGS_TEXT = "the last 1-, 3- and 10-day returns over the 10-day volatility"

if __name__ == "__main__":
    sys.exit(main())
