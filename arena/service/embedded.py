"""The planes on one machine, each its own process: an engine worker and a bot host (``arena worker``), started
for ``arena serve --embedded``, ``arena demo --web`` and ``arena up``, and stopped with them.

They are children that die with their parent even when it is killed with SIGKILL (``arena.children``), in
sessions of their own so a Ctrl-C at the terminal reaches only the parent, which stops them in order: SIGTERM
(an engine worker hands its tournaments over, a bot host stops its bots), then SIGKILL after ``STOP_WITHIN_S``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import redis

from arena.children import spawn
from arena.runtime import hosts

STOP_WITHIN_S = 8.0
READY_WITHIN_S = 60.0


def arena_command() -> list[str]:
    """This installation's ``arena`` (beside the running interpreter), or ``python -m arena.cli``."""
    script = Path(sys.executable).parent / "arena"
    return [str(script)] if script.exists() else [sys.executable, "-m", "arena.cli"]


class Planes:
    """``with Planes(redis_url, env) as planes:`` an engine worker and a bot host of ``slots`` slots, ready."""

    def __init__(self, redis_url: str, env: Mapping[str, str] | None = None, slots: int = 8,
                 engines: int = 1, log_dir: Path | None = None) -> None:  # fmt: skip
        self.redis_url, self.slots, self.engines = redis_url, slots, engines
        self.env = dict(os.environ) | dict(env or {}) | {"ARENA_REDIS_URL": redis_url}
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> Planes:
        host = f"embedded-host.{os.getpid()}"
        try:
            for i in range(self.engines):
                name = f"embedded-engine.{os.getpid()}.{i}"
                self.add(f"engine-{i + 1}", ["worker", "--queues", "engine", "--slots", "4", "--name", name])
            self.add("bot-host", ["worker", "--queues", "bots", "--slots", str(self.slots), "--name", host])
            self._await_host(host)
        except BaseException:
            self.stop()
            raise
        return self

    def add(self, plane: str, args: list[str]) -> subprocess.Popen[bytes]:
        """Start ``arena <args>`` as one more part (``arena up``'s API), stopped with the rest."""
        out = (self.log_dir / f"{plane}.log").open("ab") if self.log_dir else subprocess.DEVNULL
        self.processes[plane] = spawn([*arena_command(), *args], env=self.env, stdout=out, stderr=subprocess.STDOUT)
        return self.processes[plane]

    def _await_host(self, name: str) -> None:
        client = redis.Redis.from_url(self.redis_url)
        try:
            deadline = time.monotonic() + READY_WITHIN_S
            while not hosts.alive(client, [name])[name]:
                for plane, process in self.processes.items():
                    if process.poll() is not None:
                        raise RuntimeError(f"the {plane} worker exited with {process.returncode} while starting")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the bot host did not come up within {READY_WITHIN_S:g} s")
                time.sleep(0.05)  # waiting for its first heartbeat, bounded by the deadline
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM to every plane, then SIGKILL to what is left after ``STOP_WITHIN_S``."""
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WITHIN_S
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def __enter__(self) -> Planes:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
