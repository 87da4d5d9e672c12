"""Tournament throughput and leaderboard latency. Prints one JSON object; not part of the test run.

- ticks_per_second_{10,100}_bots: lockstep ticks per second with that many sandboxed example bots
  (--runtime: runsc by default, or runc), measured from the first tick to the last (start-up excluded);
- tick_to_leaderboard_p50_ms / _p99_ms: from the start of a tick (market applied) to its scores
  being in the leaderboard ZSET, with the 100-bot tournament (bots' round trips included);
- host_cpu_ms_per_bot_tick: CPU time (user + system, from /proc) of the engine's process and the supervisor
  processes between the first tick and the last, over bots x ticks (target 0.3 ms), and each part of it
  (engine_cpu_..., supervisor_cpu_...); sandbox_cpu_ms_per_bot_tick beside it is the rest of the process tree
  (the runtime's processes and the bots themselves);
- leaderboard_writes_per_second, redis_benchmark_zadd_per_second, top10_read_p99_ms: see
  bench/leaderboard.py (same machine, same run).
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import itertools
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any, TypedDict

import psutil

# Running this file puts bench/ first on sys.path, where bench/sandbox.py would shadow the sandbox package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


from arena.catalog import load_catalog  # noqa: E402
from arena.runtime.local import run_local  # noqa: E402
from arena.runtime.redis_server import RedisServer  # noqa: E402
from arena.runtime.spec import EntrySpec, TournamentSpec  # noqa: E402


def _leaderboard_bench() -> Any:
    # bench/ is not a package (and its sandbox.py would shadow the sandbox package on sys.path).
    spec = importlib.util.spec_from_file_location("bench_leaderboard", Path(__file__).with_name("leaderboard.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples" / "bots").glob("*.py"))
RULES = {"symbols": ["SPY", "AAPL", "MSFT", "NVDA", "BTC-USD", "ETH-USD"]}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds() -> tuple[float, float, float]:
    """CPU seconds so far of (this process: the engine; its supervisor processes; everything else below them: the
    sandbox runtimes and the bots). A process gone between the two samples is not counted (none is, mid-run)."""
    supervisors = {c.pid for c in multiprocessing.active_children()}
    engine = host = sandboxes = 0.0
    for process in [psutil.Process(), *psutil.Process().children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.Error:  # exited meanwhile
            continue
        if process.pid == os.getpid():
            engine += times.user + times.system
        elif process.pid in supervisors:
            host += times.user + times.system
        else:
            sandboxes += times.user + times.system
    return engine, host, sandboxes


def memory_mib() -> tuple[float, float, float]:
    """Proportional set size (MiB) now of (this process: the engine; its supervisor processes; the sandboxes: their
    runtimes and bots). PSS shares each shared page among the processes mapping it, so the parts add up."""
    supervisors = {c.pid for c in multiprocessing.active_children()}
    engine = host = sandboxes = 0.0
    for process in [psutil.Process(), *psutil.Process().children(recursive=True)]:
        try:
            pss = process.memory_full_info().pss / 2**20
        except psutil.Error:  # exited meanwhile
            continue
        if process.pid == os.getpid():
            engine += pss
        elif process.pid in supervisors:
            host += pss
        else:
            sandboxes += pss
    return engine, host, sandboxes


class Run(TypedDict):
    """One tournament's figures (``run``)."""

    bots: int
    ticks: int
    supervisor_processes: int
    bots_finished: int
    statuses: dict[str, int]
    startup_s: float
    ticks_per_second: float
    tick_p50_ms: float
    tick_p99_ms: float
    host_cpu_ms_per_bot_tick: float
    engine_cpu_ms_per_bot_tick: float
    supervisor_cpu_ms_per_bot_tick: float
    sandbox_cpu_ms_per_bot_tick: float
    engine_mib: float
    supervisor_mib_per_bot: float
    sandbox_mib_per_bot: float
    load_average: list[float]


def run(url: str, bots: int, ticks: int, processes: int) -> Run:
    entries = [
        EntrySpec(bot=f"{path.stem.replace('_', '-')}-{i}", path=str(path))
        for i, path in zip(range(bots), itertools.cycle(EXAMPLES), strict=False)
    ]
    # Sandboxes start 8 at a time per host: a thousand bots take minutes to come up, and the first ones started
    # must not reach their wall-time limit while the last ones do.
    spec = TournamentSpec(id=f"bench-{bots}", rules=RULES, feed="synthetic:1", ticks=ticks, entries=entries,
                          tick_deadline_s=5.0, limits={"timeout": str(600 + 2 * bots)},
                          start_timeout_s=max(60.0, bots))  # fmt: skip
    stamps: list[float] = []
    durations: list[float] = []
    cpu: list[tuple[float, float, float]] = []
    memory: list[tuple[float, float, float]] = []

    def on_tick(report: Any) -> None:
        if not stamps or len(stamps) == ticks - 1:  # the first tick and the last
            cpu.append(cpu_seconds())
        if len(stamps) == ticks - 1:  # every bot still running (measured after the CPU: it costs some)
            memory.append(memory_mib())
        stamps.append(time.perf_counter())
        durations.append(report.waited_s)

    started = time.perf_counter()
    standings, _ = run_local(url, spec, load_catalog(), on_tick=on_tick, processes=processes)
    finished = sum(1 for s in standings if s.status == "finished")
    statuses = dict(collections.Counter(s.status for s in standings))
    elapsed = stamps[-1] - stamps[0]
    bot_ticks = bots * (len(stamps) - 1)
    engine_cpu, supervisor_cpu, sandbox_cpu = (b - a for a, b in zip(cpu[0], cpu[-1], strict=True))
    return {
        "bots": bots,
        "ticks": ticks,
        "supervisor_processes": processes,
        "bots_finished": finished,
        "statuses": statuses,
        "startup_s": round(stamps[0] - started, 3),
        "ticks_per_second": (len(stamps) - 1) / elapsed,
        "tick_p50_ms": percentile(durations, 0.5) * 1000,
        "tick_p99_ms": percentile(durations, 0.99) * 1000,
        "host_cpu_ms_per_bot_tick": round(1000 * (engine_cpu + supervisor_cpu) / bot_ticks, 3),
        "engine_cpu_ms_per_bot_tick": round(1000 * engine_cpu / bot_ticks, 3),
        "supervisor_cpu_ms_per_bot_tick": round(1000 * supervisor_cpu / bot_ticks, 3),
        "sandbox_cpu_ms_per_bot_tick": round(1000 * sandbox_cpu / bot_ticks, 3),
        "engine_mib": round(memory[0][0], 1),
        "supervisor_mib_per_bot": round(memory[0][1] / bots, 2),
        "sandbox_mib_per_bot": round(memory[0][2] / bots, 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--bots", type=int, default=100)
    parser.add_argument("--processes", type=int, default=2, help="supervisor processes (0: in the engine's)")
    parser.add_argument("--no-leaderboard", action="store_true", help="skip the leaderboard bench")
    parser.add_argument("--runtime", default="runsc", help="the bots' OCI runtime: runsc (default) or runc")
    args = parser.parse_args()
    os.environ["ARENA_SANDBOX_RUNTIME"] = args.runtime  # the supervisors' sandboxes, in every process
    with RedisServer() as server:
        ten = run(server.url, 10, args.ticks, args.processes)
        hundred = run(server.url, args.bots, args.ticks, args.processes)
    board = {} if args.no_leaderboard else _leaderboard_bench().measure_leaderboard()
    print(
        json.dumps(
            {
                "runtime": args.runtime,
                "ticks_per_second_10_bots": round(ten["ticks_per_second"], 1),
                f"ticks_per_second_{args.bots}_bots": round(hundred["ticks_per_second"], 1),
                f"host_cpu_ms_per_bot_tick_{args.bots}_bots": hundred["host_cpu_ms_per_bot_tick"],
                f"engine_cpu_ms_per_bot_tick_{args.bots}_bots": hundred["engine_cpu_ms_per_bot_tick"],
                f"supervisor_cpu_ms_per_bot_tick_{args.bots}_bots": hundred["supervisor_cpu_ms_per_bot_tick"],
                f"sandbox_cpu_ms_per_bot_tick_{args.bots}_bots": hundred["sandbox_cpu_ms_per_bot_tick"],
                "load_average": hundred["load_average"],
                "tick_to_leaderboard_p50_ms": round(hundred["tick_p50_ms"], 2),
                "tick_to_leaderboard_p99_ms": round(hundred["tick_p99_ms"], 2),
                "leaderboard_writes_per_second": board.get("leaderboard_writes_per_second"),
                "redis_benchmark_zadd_per_second": board.get("redis_benchmark_zadd_per_second"),
                "top10_read_p99_ms": board.get("top10_read_p99_ms"),
                "runs": {"10": ten, str(args.bots): hundred},
                "leaderboard": board,
                "targets": {"ticks_per_second_100_bots": 20, "leaderboard_vs_redis_benchmark": 0.5,
                            "host_cpu_ms_per_bot_tick": 0.3,
                            "top10_read_p99_ms": 1.0},
            },
            indent=2,
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
