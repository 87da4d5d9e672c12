"""How a run ended."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    EXITED = "exited"  # the bot exited by itself; see exit_code
    OOM = "oom"  # killed by the kernel at the memory limit
    TIMEOUT = "timeout"  # wall-clock limit, or the CPU-seconds backstop (see reason)
    OUTPUT_LIMIT = "output_limit"  # wrote more than its stdout or stderr cap
    KILLED = "killed"  # by the host, or died of a signal
    CRASHED = "crashed"  # the runtime failed: a host fault, not the bot's


@dataclass(frozen=True)
class Outcome:
    status: Status
    exit_code: int | None
    wall_seconds: float
    cpu_seconds: float | None
    peak_memory_bytes: int | None
    stdout: bytes
    stderr: bytes
    runtime: str
    signal: int | None = None
    reason: str = ""
    container_id: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    oom_kills: int = 0

    @property
    def ok(self) -> bool:
        return self.status is Status.EXITED and self.exit_code == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "reason": self.reason,
            "wall_seconds": round(self.wall_seconds, 4),
            "cpu_seconds": None if self.cpu_seconds is None else round(self.cpu_seconds, 4),
            "peak_memory_bytes": self.peak_memory_bytes,
            "stdout": self.stdout.decode("utf-8", "replace"),
            "stderr": self.stderr.decode("utf-8", "replace"),
            "stdout_truncated": self.stdout_truncated,
            "stderr_truncated": self.stderr_truncated,
            "oom_kills": self.oom_kills,
            "runtime": self.runtime,
            "container_id": self.container_id,
        }
