"""The example ML bot's model is what scripts/train_example_model.py makes: retrained here on the shared data,
onnxruntime gives the committed model's probabilities (without the shared data it trains on the repository's slice,
which gives another model: then only the script's own check, onnxruntime against scikit-learn, is tested)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "arena" / "examples" / "ml" / "model.onnx"
SHARED_DATA = ROOT.parent / "shared" / "data" / "equities-daily-1995-2014.csv"


def probabilities(model: Path | bytes, rows: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model if isinstance(model, bytes) else str(model),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: rows})[1]


def test_the_training_script_remakes_the_committed_model(tmp_path: Path) -> None:
    out = tmp_path / "model.onnx"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "train_example_model.py"), "--out", str(out)],
                          capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["bytes"] == out.stat().st_size < 4096  # small enough to ship with the bot
    assert report["train_rows"] > 1000 and 0.4 < report["test_accuracy"] < 0.7

    grid = np.array([[a, b, c] for a in (-2, 0, 2) for b in (-1.5, 0.5) for c in (-3, 0, 1)], dtype=np.float32)
    committed, remade = probabilities(MODEL, grid), probabilities(out, grid)
    assert committed.shape == (len(grid), 2) and np.allclose(committed.sum(axis=1), 1, atol=1e-6)
    if SHARED_DATA.is_file():  # the data the committed model was trained on
        assert report["train_rows"] == 10981
        assert np.allclose(remade, committed, atol=1e-6)
    else:  # the repository's 2013-2014 slice: a model of the same shape (the script checked it against scikit-learn)
        assert remade.shape == committed.shape and np.allclose(remade.sum(axis=1), 1, atol=1e-6)
