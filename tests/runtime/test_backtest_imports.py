"""`arena backtest` imports only what a backtest needs: never the service's web, database or task-queue stacks, nor
the command groups it does not run (each costs start-up time a contestant waits for on every run). Checked on
sys.modules in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "psycopg", "celery", "kombu", "docker", "httpx",
         "redis", "pydantic_settings", "arena.api", "arena.service", "arena.store", "arena.runtime.supervisor",
         "sandbox.cli", "arena.images.cli")  # the last two: `arena sandbox` and `arena images`, mounted lazily


def imported(modules: list[str], names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` (packages or modules) are among ``modules``."""
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))

RUN = """
import json, sys
from typer.testing import CliRunner
from arena.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
print(json.dumps({"exit_code": result.exit_code, "modules": sorted(sys.modules)}))
"""


@pytest.mark.parametrize(
    "args",
    [["backtest", "--help"], ["backtest", str(ROOT / "tests/data/bots/steady_buyer.py"), "--ticks", "3", "--json"]],
    ids=["help", "tiny-backtest"],
)
def test_arena_backtest_imports_no_service_stack(args: list[str]) -> None:
    done = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["exit_code"] == 0
    assert imported(result["modules"], HEAVY) == []


def test_a_replay_backtest_does_not_import_numpy(tmp_path: Path) -> None:
    """NumPy serves the synthetic feed only; a backtest over CSV bars (with its calendars cached) goes without, and
    without exchange_calendars and pandas, which only build the calendars."""
    args = ["backtest", str(ROOT / "tests/data/bots/steady_buyer.py"), "--feed",
            str(ROOT / "tests/data/equities-daily-sample.csv"), "--symbols", "ORCL", "--json"]  # fmt: skip
    env = {**os.environ, "ARENA_CACHE_DIR": str(tmp_path)}
    for _ in range(2):  # the first run fills the calendar cache (exchange_calendars and pandas need NumPy)
        done = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=120,
                              cwd=ROOT, env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["exit_code"] == 0
    assert imported(result["modules"], ("numpy", "pandas", "exchange_calendars", *HEAVY)) == []
