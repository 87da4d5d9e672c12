"""Sandbox benchmark, runsc (gVisor) and runc side by side in one run: prints one JSON object.

Per runtime:
cold_start_ms        Sandbox.start() of a Python bot until its first line arrives (mean of warm runs)
pooled_start_ms      the same from a pre-started sandbox waiting at its gate (Sandbox.keep_ready)
bare_runtime_ms      `<runtime> run` of /bin/true with the same hardened config: no Python, no verification
bare_python_ms       the same interpreter printing one line on the host, no sandbox
cold_start_ratio     cold_start_ms / (bare_runtime_ms + bare_python_ms); target <= 1.5
max_idle_bots        idle sandboxed bots running at once before a start fails or takes over --slow seconds
idle_memory_mib      host memory per idle bot (its cgroup's usage: for runsc the Sentry and gofer too)
Targets: cold_start_ratio <= 1.5 for each runtime; max_idle_bots >= 200 under runsc on 24 GiB.
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

from sandbox import BotProcess, Limits, Sandbox
from sandbox.bundle import build_config, write_bundle
from sandbox.rootfs import Bind, RootfsLayout, ensure_skeleton
from sandbox.runtime import state_dir
from sandbox.uids import take as take_slot

READY_BOT = "print('{\"ready\": true}', flush=True)\n"
IDLE_BOT = "import sys\nprint('{\"ready\": true}', flush=True)\nsys.stdin.read()\n"


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def bare_runtime(box: Sandbox, runs: int) -> float:
    """The runtime alone: /bin/true in the same hardened config (from the image, or bound from the host)."""
    if box.layout.image is not None:
        layout, rootfs = RootfsLayout(python="/bin/true", binds=(), symlinks=(), image=box.layout.image), box.rootfs
    else:
        libs = tuple(b for b in box.layout.binds if b.target.startswith(("/lib", "/usr/lib", "/etc/ld.so")))
        true = shutil.which("true") or "/bin/true"
        layout = RootfsLayout(python="/usr/local/bin/true", symlinks=box.layout.symlinks,
                              binds=(*libs, Bind(os.path.realpath(true), "/usr/local/bin/true", is_file=True)))
        rootfs = ensure_skeleton(layout, state_dir())
    root = Path(tempfile.mkdtemp(prefix="bench-root-", dir=state_dir()))
    slot = take_slot(state_dir() / "uids")  # the same user namespace a bot gets
    times = []
    for n in range(runs + 1):
        bundle = Path(tempfile.mkdtemp(prefix="bench-bundle-", dir=state_dir()))
        config = build_config(layout=layout, rootfs=rootfs, limits=box.limits, args=[layout.python],
                              bot_source=None, cgroups_path=f"arena-bench/{os.getpid()}-{n}",
                              runtime=box.runtime.name, recursive_readonly=box.runtime.recursive_readonly,
                              uids=slot.uids)
        write_bundle(bundle, config)
        start = time.perf_counter()
        subprocess.run([*box.runtime.global_args(root), "run", "--bundle", str(bundle), f"bench-{n}"],
                       stdin=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
        subprocess.run([*box.runtime.global_args(root), "delete", "--force", f"bench-{n}"],
                       capture_output=True, check=False)
        shutil.rmtree(bundle)
    shutil.rmtree(root, ignore_errors=True)
    slot.release()
    return statistics.mean(times[1:])


def bare_python(box: Sandbox, runs: int) -> float:
    """The bots' interpreter on the host: the image's (chrooted, as the sandbox runs it) or the host's own."""
    if box.layout.image is not None:
        command = ["/usr/sbin/chroot", box.layout.image, box.layout.python]
    else:
        # The interpreter a venv runs on: CPython's, undocumented, so typeshed leaves it out.
        command = [os.path.realpath(sys._base_executable)]  # type: ignore[attr-defined]
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        process = subprocess.Popen([*command, "-s", "-B", "-c", "print('ready', flush=True)"],
                                   stdout=subprocess.PIPE, env={"PATH": "/usr/bin:/bin"})
        assert process.stdout is not None
        process.stdout.readline()
        times.append(time.perf_counter() - start)
        process.wait()
    return statistics.mean(times[1:])


def first_line(box: Sandbox, bot: Path, runs: int) -> float:
    times = []
    for _ in range(runs + 1):
        if box.pool is not None:
            box.pool.wait_ready()  # measure a start that finds a sandbox waiting
        start = time.perf_counter()
        with box.start(bot) as process:
            process.channel.receive(timeout=30)
            times.append(time.perf_counter() - start)
            process.wait(timeout=30)
    return statistics.mean(times[1:])


def max_idle(box: Sandbox, bot: Path, cap: int, slow: float) -> tuple[int, float, float, str]:
    running: list[BotProcess] = []
    slowest, why, memory = 0.0, f"stopped at the benchmark's cap of {cap}", 0.0
    try:
        while len(running) < cap:
            start = time.perf_counter()
            try:
                process = box.start(bot)
                process.channel.receive(timeout=10)
            except Exception as error:  # any failure ends the count
                why = f"start {len(running) + 1} failed: {error}"
                break
            elapsed = time.perf_counter() - start
            slowest = max(slowest, elapsed)
            running.append(process)
            if elapsed > slow:
                why = f"start {len(running)} took {elapsed:.2f} s"
                running.pop().kill()
                break
        usage = [p.cgroup.stats().memory_bytes or 0 for p in running]
        memory = statistics.mean(usage) / (1 << 20) if usage else 0.0
    finally:
        for process in running:
            process.kill()
        for process in running:
            process.wait(timeout=60)
    return len(running), slowest, memory, why


def measure(runtime: str, options: argparse.Namespace, ready: Path, idle: Path) -> dict[str, object]:
    box = Sandbox(Limits(wall_seconds=600), runtime=runtime)
    runtime_s = bare_runtime(box, options.runs)
    python_s = bare_python(box, options.runs)
    cold_s = first_line(box, ready, options.runs)
    box.keep_ready(2)
    pooled_s = first_line(box, ready, options.runs)
    box.close()
    bots, slowest, memory, why = max_idle(Sandbox(Limits(wall_seconds=600), runtime=runtime), idle,
                                          options.max_bots, options.slow)
    return {
        "runtime": runtime, "version": box.runtime.version or None, "platform": box.runtime.platform,
        "rootfs": "image" if box.layout.image else "host binds",
        "cold_start_ms": _ms(cold_s), "pooled_start_ms": _ms(pooled_s),
        "bare_runtime_ms": _ms(runtime_s), "bare_python_ms": _ms(python_s),
        "cold_start_ratio": round(cold_s / (runtime_s + python_s), 2),
        "pool_speedup": round(cold_s / pooled_s, 1),
        "max_idle_bots": bots, "idle_memory_mib": round(memory, 1),
        "slowest_idle_start_ms": _ms(slowest), "idle_bots_stop_reason": why,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--max-bots", type=int, default=250, help="stop counting idle bots here")
    parser.add_argument("--slow", type=float, default=2.0, help="a start slower than this ends the idle count")
    parser.add_argument("--runtimes", default="runsc,runc")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ready, idle = Path(tmp, "ready.py"), Path(tmp, "idle.py")
        ready.write_text(READY_BOT)
        idle.write_text(IDLE_BOT)
        for path in (ready, idle):
            path.chmod(0o644)
        results = [measure(name, options, ready, idle) for name in options.runtimes.split(",")]
    cold_ms = {result["runtime"]: result["cold_start_ms"] for result in results}
    summary: dict[str, object] = {"runtimes": results, "runs": options.runs, "cpus": os.cpu_count()}
    runsc_ms, runc_ms = cold_ms.get("runsc"), cold_ms.get("runc")
    if isinstance(runsc_ms, float) and isinstance(runc_ms, float):
        summary["runsc_over_runc_cold_start"] = round(runsc_ms / runc_ms, 1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
