"""The compiled engine (mypyc) and the pure-Python one give the same results bit for bit, and a compiled build
older than the sources is never used.

Each build runs tests/engine/scenario.py in a process of its own (ARENA_PURE_ENGINE=1 picks the sources); every
event, account, position, equity curve, open order and mark is compared as printed (floats by repr).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import arena.engine
from arena.engine import compiled

ROOT = Path(__file__).resolve().parents[2]
SEEDS = (1, 2)
TICKS = "300"


def _start(*args: str, pure: bool, cwd: Path = ROOT, path: Path = ROOT) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(path)}
    env.pop("ARENA_PURE_ENGINE", None)
    if pure:
        env["ARENA_PURE_ENGINE"] = "1"
    return subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def _finish(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    try:
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _run(*args: str, pure: bool, cwd: Path = ROOT, path: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return _finish(_start(*args, pure=pure, cwd=cwd, path=path))


@pytest.fixture(scope="module")
def compiled_build() -> None:
    if not compiled._is_extension(importlib.util.find_spec(f"arena.engine.{compiled.DIGEST_MODULE}")):
        pytest.skip("no compiled engine is installed here (built with ARENA_PURE_BUILD=1, or not built yet)")
    # Binaries older than the sources would make both runs pure: rebuild (make setup) rather than pass.
    assert arena.engine.COMPILED or os.environ.get("ARENA_PURE_ENGINE"), "the compiled engine is stale: make setup"


@pytest.mark.parametrize("seed", SEEDS)
def test_compiled_and_pure_engines_agree_bit_for_bit(compiled_build: None, seed: int) -> None:
    runs = [_start("-m", "tests.engine.scenario", str(seed), TICKS, pure=pure) for pure in (False, True)]
    fast, slow = (_finish(run) for run in runs)
    assert fast.returncode == 0 and slow.returncode == 0, fast.stderr[-2000:] + slow.stderr[-2000:]
    assert fast.stdout.endswith("build: compiled\n") and slow.stdout.endswith("build: pure\n")
    fast_lines, slow_lines = fast.stdout.splitlines()[:-1], slow.stdout.splitlines()[:-1]
    # The scenario exercises what it claims: fills, forced liquidations, expiries, rejections of every kind.
    text = slow.stdout
    assert text.count("'Fill'") > 1_000 and "('liquidation', True)" in text
    # Fills in the cross and the USD-base pair, and positions in them valued at a conversion rate.
    assert any("'Fill'" in line and ("'EUR/GBP'" in line or "'USD/JPY'" in line) for line in slow_lines)
    assert any(line.endswith(", True)") and ("'EUR/GBP'" in line or "'USD/JPY'" in line) for line in slow_lines)
    for code in ("RATE_LIMITED", "LIQUIDITY_HALT", "LOSS_LIMIT", "INSUFFICIENT_MARGIN", "EXCHANGE_CLOSED",
                 "SHORT_SELLING_NOT_ALLOWED", "POST_ONLY_WOULD_CROSS", "FOK_NOT_FILLABLE", "UNKNOWN_SYMBOL",
                 "INVALID_ORDER", "UNKNOWN_ORDER", "'LIQUIDATION'", "IOC_REMAINDER", "DAY_ORDER_EXPIRED",
                 "EXTENDED_HOURS_NOT_ALLOWED", "('session', 'extended')", "NO_CONVERSION_RATE", "'EUR/GBP'",
                 "'USD/JPY'"):  # fmt: skip
        assert code in text, code
    first_difference = next((i for i, (a, b) in enumerate(zip(fast_lines, slow_lines, strict=False)) if a != b), None)
    assert first_difference is None, (fast_lines[first_difference], slow_lines[first_difference])
    assert len(fast_lines) == len(slow_lines)


def _copy_of_the_build(dest: Path) -> Path:
    """The installed engine (sources, extension modules and their shared library) copied under ``dest``."""
    package = Path(arena.engine.__file__).parent
    shutil.copytree(package, dest / "arena" / "engine", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(package.parent / "__init__.py", dest / "arena" / "__init__.py")
    for name in list(sys.modules):
        if name.endswith("__mypyc"):
            origin = sys.modules[name].__file__
            assert origin is not None
            shutil.copy2(origin, dest / Path(origin).name)
    return dest / "arena" / "engine"


PROBE = "import arena.engine, arena.engine.engine as e; print(arena.engine.COMPILED, e.__file__.endswith('.py'))"


def test_a_stale_compiled_engine_gives_way_to_the_edited_sources(compiled_build: None, tmp_path: Path) -> None:
    engine = _copy_of_the_build(tmp_path)
    answer = _run("-c", PROBE, pure=False, cwd=tmp_path, path=tmp_path)
    assert answer.stdout.split() == ["True", "False"], answer.stderr  # the copy runs compiled as it is
    source = engine / "scoring.py"
    source.write_text(source.read_text() + "\n# edited after the build\n")
    answer = _run("-c", PROBE, pure=False, cwd=tmp_path, path=tmp_path)
    assert answer.stdout.split() == ["False", "True"], answer.stderr
    assert "built from other sources" in answer.stderr


def test_arena_pure_engine_runs_the_sources(compiled_build: None) -> None:
    answer = _run("-c", PROBE, pure=True)
    assert answer.stdout.split() == ["False", "True"], answer.stderr
    assert answer.stderr == ""
