"""Resource limits of one sandboxed run: a frozen, validated value with parse helpers."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from sandbox.errors import LimitsError

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

CFS_PERIOD_US = 100_000

_UNITS = {"": 1, "b": 1, "k": KiB, "m": MiB, "g": GiB}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgKMG]?)(?:i?[bB])?\s*$")


def parse_bytes(value: str | int, *, what: str = "size") -> int:
    """Parse ``"256M"``, ``"32MiB"``, ``"1G"``, ``"4096"`` or an int into bytes (binary units, as Docker)."""
    if isinstance(value, bool):
        raise LimitsError(f"{what}: expected a size like '256M', got {value!r}")
    if isinstance(value, int):
        number, scale = float(value), 1
    else:
        match = _SIZE_RE.match(value)
        if not match:
            raise LimitsError(f"{what}: cannot parse {value!r}; use a number with an optional K, M or G suffix")
        number, scale = float(match.group(1)), _UNITS[match.group(2).lower()]
    result = int(number * scale)
    if result <= 0:
        raise LimitsError(f"{what}: must be positive, got {value!r}")
    return result


def parse_cpu(value: str | float) -> float:
    """Parse a vCPU count such as ``"0.5"`` or ``"500m"`` (millicores, as Kubernetes)."""
    try:
        if isinstance(value, str) and value.strip().endswith("m"):
            cpus = float(value.strip()[:-1]) / 1000
        else:
            cpus = float(value)
    except ValueError:
        raise LimitsError(f"cpu: cannot parse {value!r}; use a vCPU count like 0.5 or 500m") from None
    return cpus


def parse_seconds(value: str | float, *, what: str = "timeout") -> float:
    """Parse ``"30"``, ``"30s"``, ``"2m"`` or ``"1h"`` into seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", value)
    if not match:
        raise LimitsError(f"{what}: cannot parse {value!r}; use seconds like 30, 30s, 2m or 1h")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match.group(2)]
    return float(match.group(1)) * scale


@dataclass(frozen=True)
class Limits:
    """What one bot may use. Defaults are the production defaults; a tournament may override any."""

    cpu: float = 0.5  # vCPUs, enforced as a CFS quota over a 100 ms period
    memory_bytes: int = 256 * MiB  # RAM; swap is disabled (memory+swap == memory)
    pids: int = 64
    open_files: int = 128
    tmp_bytes: int = 32 * MiB  # size of the fresh tmpfs at /tmp
    wall_seconds: float = 60.0
    cpu_seconds: float | None = None  # backstop; None means what the quota could give over the wall time
    stdout_bytes: int = 1 * MiB  # kept (and read) at most; more ends the run as output_limit
    stderr_bytes: int = 1 * MiB

    def __post_init__(self) -> None:
        checks: list[tuple[bool, str]] = [
            (0.01 <= self.cpu <= 64, f"cpu must be between 0.01 and 64 vCPUs, got {self.cpu}"),
            (self.memory_bytes >= 16 * MiB, f"memory must be at least 16M, got {self.memory_bytes} bytes"),
            (4 <= self.pids <= 32768, f"pids must be between 4 and 32768, got {self.pids}"),
            (16 <= self.open_files <= 1 << 20, f"open_files must be between 16 and 1048576, got {self.open_files}"),
            (self.tmp_bytes >= 1 * MiB, f"tmp must be at least 1M, got {self.tmp_bytes} bytes"),
            (0 < self.wall_seconds <= 7 * 86400, f"wall_seconds must be in (0, 604800], got {self.wall_seconds}"),
            (self.cpu_seconds is None or self.cpu_seconds > 0, f"cpu_seconds must be > 0, got {self.cpu_seconds}"),
            (self.stdout_bytes >= 0 and self.stderr_bytes >= 0, "output caps must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise LimitsError(message)

    @property
    def cfs_quota_us(self) -> int:
        return max(1000, round(self.cpu * CFS_PERIOD_US))

    @property
    def cfs_period_us(self) -> int:
        return CFS_PERIOD_US

    @property
    def effective_cpu_seconds(self) -> int:
        """RLIMIT_CPU and the supervisor's cgroup check: at most what the quota allows, plus a second."""
        if self.cpu_seconds is not None:
            return max(1, math.ceil(self.cpu_seconds))
        return max(1, math.ceil(self.wall_seconds * self.cpu) + 1)

    def replace(self, **changes: Any) -> Limits:
        return replace(self, **changes)

    @classmethod
    def parse(
        cls,
        *,
        cpu: str | float | None = None,
        memory: str | int | None = None,
        pids: int | None = None,
        open_files: int | None = None,
        tmp: str | int | None = None,
        timeout: str | float | None = None,
        cpu_seconds: str | float | None = None,
        stdout: str | int | None = None,
        stderr: str | int | None = None,
    ) -> Limits:
        """Build limits from human strings (``memory="256M"``); ``None`` keeps the default."""
        changes: dict[str, Any] = {}
        if cpu is not None:
            changes["cpu"] = parse_cpu(cpu)
        if memory is not None:
            changes["memory_bytes"] = parse_bytes(memory, what="memory")
        if pids is not None:
            changes["pids"] = int(pids)
        if open_files is not None:
            changes["open_files"] = int(open_files)
        if tmp is not None:
            changes["tmp_bytes"] = parse_bytes(tmp, what="tmp")
        if timeout is not None:
            changes["wall_seconds"] = parse_seconds(timeout)
        if cpu_seconds is not None:
            changes["cpu_seconds"] = parse_seconds(cpu_seconds, what="cpu_seconds")
        if stdout is not None:
            changes["stdout_bytes"] = parse_bytes(stdout, what="stdout cap") if stdout != 0 else 0
        if stderr is not None:
            changes["stderr_bytes"] = parse_bytes(stderr, what="stderr cap") if stderr != 0 else 0
        return cls(**changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
