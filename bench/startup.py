"""Start-up of `arena backtest`: wall time of a one-tick backtest, each in a fresh process. Prints one JSON object.

The command's whole cost before a bot trades: interpreter, imports, the catalog, the session calendars (cached
after the first run: arena/feeds/calendars.py) and a one-tick synthetic feed. Measured beside the floor every
Python command pays (`python -c pass`) and beside importing backtrader, the peer users compare the backtest with,
when the bench extra installed it. The target is 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOT = ROOT / "arena" / "examples" / "bots" / "buy_and_hold.py"
TARGET_S = 0.5


def wall(argv: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    arena = str(Path(sys.executable).with_name("arena"))
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "ARENA_CACHE_DIR": cache}
        command = [arena, "backtest", str(BOT), "--ticks", "1", "--json"]
        cold = wall(command, env)  # builds and stores the calendars
        warm = [wall(command, env) for _ in range(args.runs)]
        floor = [wall([sys.executable, "-c", "pass"], env) for _ in range(args.runs)]
        try:
            import backtrader  # noqa: F401
        except ImportError:
            peer = None
        else:
            peer = [wall([sys.executable, "-c", "import backtrader"], env) for _ in range(args.runs)]
    median = statistics.median(warm)
    print(json.dumps({
        "bench": "startup", "runs": args.runs, "backtest_first_run_s": round(cold, 3),
        "backtest_s": [round(w, 3) for w in warm], "backtest_median_s": round(median, 3),
        "python_floor_median_s": round(statistics.median(floor), 3),
        "backtrader_import_median_s": None if peer is None else round(statistics.median(peer), 3),
        "target_s": TARGET_S, "ratio_to_target": round(median / TARGET_S, 2),
    }))


if __name__ == "__main__":
    main()
