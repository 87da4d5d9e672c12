"""Sandbox benchmark: prints one JSON object.

cold_start_ms    Sandbox.start() of a Python bot until its first line arrives (mean of warm runs)
bare_runtime_ms  `runc run` of /bin/true with the same hardened config, no Python, no verification
bare_python_ms   the same interpreter printing one line on the host, no sandbox
max_idle_bots    idle sandboxed bots running at once before a start fails or takes over 1 s
Targets: cold_start_ms <= 1.5 x (bare_runtime_ms + bare_python_ms); max_idle_bots >= 200 (2 cores, 24 GiB).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sandbox import Limits, Sandbox
from sandbox.bundle import build_config, write_bundle
from sandbox.rootfs import Bind, RootfsLayout, ensure_skeleton
from sandbox.runtime import state_dir

READY_BOT = "print('{\"ready\": true}', flush=True)\n"
IDLE_BOT = "import sys\nprint('{\"ready\": true}', flush=True)\nsys.stdin.read()\n"


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def bare_runtime(box: Sandbox, runs: int) -> float:
    libs = tuple(b for b in box.layout.binds if b.target.startswith(("/lib", "/usr/lib", "/etc/ld.so")))
    true = shutil.which("true") or "/bin/true"
    layout = RootfsLayout(
        python="/usr/local/bin/true",
        binds=(*libs, Bind(os.path.realpath(true), "/usr/local/bin/true", is_file=True)),
        symlinks=box.layout.symlinks,
    )
    rootfs = ensure_skeleton(layout, state_dir())
    root = Path(tempfile.mkdtemp(prefix="bench-root-", dir=state_dir()))
    times = []
    for n in range(runs + 1):
        bundle = Path(tempfile.mkdtemp(prefix="bench-bundle-", dir=state_dir()))
        config = build_config(
            layout=layout,
            rootfs=rootfs,
            limits=box.limits,
            args=["/usr/local/bin/true"],
            bot_source=None,
            cgroups_path=f"arena-bench/{os.getpid()}-{n}",
        )
        write_bundle(bundle, config)
        start = time.perf_counter()
        subprocess.run(
            [box.runtime.path, "--root", str(root), "run", "--bundle", str(bundle), f"bench-{n}"],
            stdin=subprocess.DEVNULL,
            check=True,
        )
        times.append(time.perf_counter() - start)
        shutil.rmtree(bundle)
    shutil.rmtree(root, ignore_errors=True)
    return statistics.mean(times[1:])


def bare_python(runs: int) -> float:
    python = os.path.realpath(sys._base_executable)  # type: ignore[attr-defined]
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        process = subprocess.Popen(
            [python, "-s", "-B", "-c", "print('ready', flush=True)"],
            stdout=subprocess.PIPE,
            env={"PATH": "/usr/bin:/bin"},
        )
        assert process.stdout is not None
        process.stdout.readline()
        times.append(time.perf_counter() - start)
        process.wait()
    return statistics.mean(times[1:])


def cold_start(box: Sandbox, bot: Path, runs: int) -> tuple[float, float]:
    times, totals = [], []
    for _ in range(runs + 1):
        start = time.perf_counter()
        with box.start(bot) as process:
            process.channel.receive(timeout=30)
            times.append(time.perf_counter() - start)
            process.wait(timeout=30)
        totals.append(time.perf_counter() - start)
    return statistics.mean(times[1:]), statistics.mean(totals[1:])


def max_idle(box: Sandbox, bot: Path, cap: int) -> tuple[int, float, str]:
    running = []
    slowest, why = 0.0, f"stopped at the benchmark's cap of {cap}"
    try:
        while len(running) < cap:
            start = time.perf_counter()
            try:
                process = box.start(bot)
                process.channel.receive(timeout=5)
            except Exception as error:  # any failure ends the count
                why = f"start {len(running) + 1} failed: {error}"
                break
            elapsed = time.perf_counter() - start
            slowest = max(slowest, elapsed)
            running.append(process)
            if elapsed > 1.0:
                why = f"start {len(running)} took {elapsed:.2f} s"
                running.pop().kill()
                break
    finally:
        for process in running:
            process.kill()
        for process in running:
            process.wait(timeout=60)
    return len(running), slowest, why


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--max-bots", type=int, default=300, help="stop counting idle bots here")
    options = parser.parse_args()
    os.environ.setdefault("ARENA_SANDBOX_RUNTIME", "runc")
    box = Sandbox(Limits(wall_seconds=600))
    with tempfile.TemporaryDirectory() as tmp:
        ready, idle = Path(tmp, "ready.py"), Path(tmp, "idle.py")
        ready.write_text(READY_BOT)
        idle.write_text(IDLE_BOT)
        for path in (ready, idle):
            path.chmod(0o644)
        runtime_s = bare_runtime(box, options.runs)
        python_s = bare_python(options.runs)
        cold_s, full_s = cold_start(box, ready, options.runs)
        bots, slowest, why = max_idle(box, idle, options.max_bots)
    target = 1.5 * (runtime_s + python_s)
    print(
        json.dumps(
            {
                "cold_start_ms": _ms(cold_s),
                "bare_runtime_ms": _ms(runtime_s),
                "bare_python_ms": _ms(python_s),
                "max_idle_bots": bots,
                "cold_start_target_ms": _ms(target),
                "cold_start_within_target": cold_s <= target,
                "full_run_ms": _ms(full_s),
                "slowest_idle_start_ms": _ms(slowest),
                "idle_bots_stop_reason": why,
                "runtime": box.runtime.name,
                "runs": options.runs,
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
