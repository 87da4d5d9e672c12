"""Bots that run trained models, in real sandboxes on each OCI runtime: the example ML bot (arena/examples/ml)
loads the ONNX model it ships with the runner image's onnxruntime and scores in a tournament exactly as in its
backtest (the host's `ml` extra has the image's onnxruntime); a model that does not load fails the smoke test with
onnxruntime's own message; the ruleset's memory_mib is each bot's memory limit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from arena.runtime.backtest import load_bot, run_backtest
from arena.runtime.local import run_local
from arena.runtime.smoke import smoke_test
from arena.runtime.spec import EntrySpec, TournamentSpec
from sandbox.rootfs import default_layout

ROOT = Path(__file__).resolve().parents[2]
ML_BOT = ROOT / "examples" / "ml"
EXAMPLES = ROOT / "examples" / "bots"
HEAVY = ROOT / "tests" / "data" / "bots" / "heavy.py"

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("sandbox_runtime")]


@pytest.fixture
def ml_image(sandbox_runtime: str) -> None:
    layout = default_layout(sandbox_runtime)
    if layout.image is not None and "onnxruntime" not in layout.manifest.get("packages", {}):
        pytest.skip(f"the runner image at {layout.image} predates onnxruntime: rebuild it with `arena images build`")


def spec(tid: str, entries: dict[str, Path], ticks: int, rules: dict[str, object] | None = None) -> TournamentSpec:
    return TournamentSpec(id=tid, feed="synthetic:5", seed=5, ticks=ticks,
                          rules={"symbols": ["SPY", "AAPL", "MSFT", "NVDA", "BTC-USD", "ETH-USD"], **(rules or {})},
                          entries=[EntrySpec(bot=bot, path=str(path)) for bot, path in entries.items()])


@pytest.mark.usefixtures("ml_image")
def test_the_ml_bot_scores_in_a_tournament_exactly_as_in_its_backtest(redis_url, catalog):
    bots = {"onnx-trend": ML_BOT, "sma-crossover": EXAMPLES / "sma_crossover.py"}
    tournament = spec("ml-same-market", bots, ticks=60)
    standings, reports = run_local(redis_url, tournament, catalog)
    config, _ = tournament.build(catalog)
    alone = run_backtest(load_bot(ML_BOT), catalog, config.ruleset, config.ticks)
    ml = next(s for s in standings if s.bot == "onnx-trend")
    assert ml.status == "finished", reports["onnx-trend"]
    assert alone.orders > 0 and reports["onnx-trend"].orders == alone.orders  # it traded on its predictions
    assert (ml.nav, ml.score, ml.max_drawdown) == (alone.nav, alone.score, alone.max_drawdown)


@pytest.mark.usefixtures("ml_image")
def test_a_model_that_does_not_load_fails_the_smoke_test_with_the_loaders_message(tmp_path):
    good = tmp_path / "good"
    shutil.copytree(ML_BOT, good, ignore=shutil.ignore_patterns("__pycache__"))
    passed = smoke_test(good)
    assert passed.ok, passed.log

    corrupt = tmp_path / "corrupt"
    shutil.copytree(good, corrupt)
    (corrupt / "model.onnx").write_bytes((good / "model.onnx").read_bytes()[:100])  # cut short in transfer
    failed = smoke_test(corrupt)
    assert not failed.ok and failed.classification == "exited"
    error = next(line for line in failed.log.splitlines() if line.startswith("the bot's error: "))
    assert "[ONNXRuntimeError]" in error and "Load model from /bot/model.onnx failed" in error, failed.log
    assert "peak memory " in failed.log


def test_the_rulesets_memory_is_each_bots_memory_limit(redis_url, catalog):
    """The same bot holding 160 MiB: out as oom under memory_mib 96, finished under 384."""
    tight, _ = run_local(redis_url, spec("tight-memory", {"heavy": HEAVY}, ticks=8, rules={"memory_mib": 96}),
                         catalog)
    roomy, _ = run_local(redis_url, spec("roomy-memory", {"heavy": HEAVY}, ticks=8, rules={"memory_mib": 384}),
                         catalog)
    assert [s.status for s in tight] == ["oom"]
    assert [s.status for s in roomy] == ["finished"]
