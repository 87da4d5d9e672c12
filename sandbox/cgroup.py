"""Reading a container's cgroup back: proving its limits are in force, and its peak usage.

The runtime is given a *relative* cgroupsPath, which runc places under the cgroup of the process that
started it, per controller (on cgroup v1 the memory cgroup of a host service is often nested while
cpu and pids are not). We compute the same paths and read the kernel's values, not the config's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.limits import Limits

CGROUP_ROOT = Path("/sys/fs/cgroup")
_V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def is_unified() -> bool:
    return (CGROUP_ROOT / "cgroup.controllers").exists()


def _own_cgroups() -> dict[str, str]:
    """Controller -> this process's cgroup path, from /proc/self/cgroup."""
    own: dict[str, str] = {}
    with open("/proc/self/cgroup") as handle:
        for line in handle:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                own[controller] = path
    return own


def _v1_mounts() -> dict[str, Path]:
    """Controller -> mount point of its v1 hierarchy, from /proc/self/mountinfo."""
    mounts: dict[str, Path] = {}
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            left, _, right = line.partition(" - ")
            fields = right.split()
            if not fields or fields[0] != "cgroup":
                continue
            options = set(fields[2].split(","))
            for controller in _V1_CONTROLLERS:
                if controller in options and controller not in mounts:
                    mounts[controller] = Path(left.split()[4])
    return mounts


@dataclass(frozen=True)
class CgroupStats:
    peak_memory_bytes: int | None = None
    cpu_seconds: float | None = None
    oom_kills: int = 0
    memory_failcnt: int = 0
    memory_bytes: int | None = None  # in use now


@dataclass
class ContainerCgroup:
    """The cgroup directories of one container, v1 (per controller) or v2 (one directory)."""

    unified: bool
    dirs: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def for_relative_path(cls, relative: str) -> ContainerCgroup:
        own = _own_cgroups()
        if is_unified():
            base = own.get("", "/").lstrip("/")
            return cls(True, {"unified": CGROUP_ROOT / base / relative})
        mounts = _v1_mounts()
        dirs = {}
        for controller in _V1_CONTROLLERS:
            if controller in mounts:
                dirs[controller] = mounts[controller] / own.get(controller, "/").lstrip("/") / relative
        return cls(False, dirs)

    def create(self, limits: Limits, pids_max: int) -> None:
        """Make the container's cgroup and write its limits (for runtimes the host starts inside it).

        Raises OSError when a directory or limit cannot be written; ``verify`` then says what is missing.
        """
        memory = limits.memory_bytes // _PAGE * _PAGE
        if self.unified:
            directory = self.dirs["unified"]
            _enable_v2_controllers(directory.parent)
            directory.mkdir(exist_ok=True)
            writes = [("memory.max", memory), ("memory.swap.max", 0), ("pids.max", pids_max)]
            for name, value in writes:
                (directory / name).write_text(str(value))
            self.set_cpu(limits)
            return
        missing = sorted({"memory", "pids", "cpu"} - set(self.dirs))
        if missing:  # e.g. a mount namespace with /sys remounted (`ip netns exec`) hides the hierarchies
            raise OSError(f"cgroup v1 controller(s) not mounted here: {', '.join(missing)} (see /proc/self/mounts)")
        for directory in self.dirs.values():
            directory.mkdir(parents=True, exist_ok=True)
        v1 = [("memory", "memory.limit_in_bytes", memory), ("memory", "memory.memsw.limit_in_bytes", memory),
              ("pids", "pids.max", pids_max)]
        for controller, name, value in v1:
            path = self.dirs[controller] / name
            if name == "memory.memsw.limit_in_bytes" and not path.exists():
                continue  # swap accounting off: verify() then checks there is no swap to use
            path.write_text(str(value))
        self.set_cpu(limits)

    def set_cpu(self, limits: Limits) -> None:
        """Write the CFS quota of ``limits`` (the host lowers a booting sandbox's quota before its gate opens)."""
        if self.unified:
            (self.dirs["unified"] / "cpu.max").write_text(f"{limits.cfs_quota_us} {limits.cfs_period_us}")
            return
        (self.dirs["cpu"] / "cpu.cfs_period_us").write_text(str(limits.cfs_period_us))
        (self.dirs["cpu"] / "cpu.cfs_quota_us").write_text(str(limits.cfs_quota_us))

    def procs_files(self) -> list[Path]:
        """The ``cgroup.procs`` file of each distinct directory: a process written there joins them all."""
        return [directory / "cgroup.procs" for directory in dict.fromkeys(self.dirs.values())]

    def destroy(self, timeout: float = 5.0) -> bool:
        """Kill whatever is left in the cgroup, then remove it. False if it could not be emptied in time."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.remove()
            if not any(directory.exists() for directory in self.dirs.values()):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)  # dying processes leave the cgroup asynchronously

    def _read(self, controller: str, name: str) -> str | None:
        directory = self.dirs.get("unified" if self.unified else controller)
        if directory is None:
            return None
        try:
            return (directory / name).read_text().strip()
        except OSError:
            return None

    def has_processes(self) -> bool:
        procs = self._read("memory", "cgroup.procs")
        return bool(procs)

    def verify(self, limits: Limits, pids_max: int | None = None) -> list[str]:
        """Return what is *not* in force (empty when all limits are applied by the kernel)."""
        problems: list[str] = []
        pids_max = limits.pids if pids_max is None else pids_max
        memory = limits.memory_bytes // _PAGE * _PAGE

        def expect(controller: str, name: str, wanted: str | int, what: str) -> None:
            value = self._read(controller, name)
            if value is None:
                problems.append(f"{what}: cannot read {controller}/{name} (controller not available?)")
            elif value != str(wanted):
                problems.append(f"{what}: {controller}/{name} is {value!r}, expected {wanted!r}")

        if self.unified:
            expect("memory", "memory.max", memory, "memory limit")
            expect("memory", "memory.swap.max", 0, "no swap")
            expect("cpu", "cpu.max", f"{limits.cfs_quota_us} {limits.cfs_period_us}", "cpu quota")
            expect("pids", "pids.max", pids_max, "pids limit")
            return problems
        expect("memory", "memory.limit_in_bytes", memory, "memory limit")
        if self._read("memory", "memory.memsw.limit_in_bytes") is not None:
            expect("memory", "memory.memsw.limit_in_bytes", memory, "no swap")
        else:
            swappiness = self._read("memory", "memory.swappiness")
            if swappiness not in (None, "0") and _swap_total() > 0:
                problems.append("no swap: swap accounting is off and the host has swap; cannot cap swap")
        expect("cpu", "cpu.cfs_quota_us", limits.cfs_quota_us, "cpu quota")
        expect("cpu", "cpu.cfs_period_us", limits.cfs_period_us, "cpu period")
        expect("pids", "pids.max", pids_max, "pids limit")
        return problems

    def stats(self) -> CgroupStats:
        def number(controller: str, name: str) -> int | None:
            value = self._read(controller, name)
            try:
                return int(value) if value is not None else None
            except ValueError:
                return None

        def keyed(controller: str, name: str, key: str) -> int:
            for line in (self._read(controller, name) or "").splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[0] == key:
                    return int(parts[1])
            return 0

        if self.unified:
            usec = keyed("cpu", "cpu.stat", "usage_usec")
            return CgroupStats(
                peak_memory_bytes=number("memory", "memory.peak"),
                cpu_seconds=usec / 1e6,
                oom_kills=keyed("memory", "memory.events", "oom_kill"),
                memory_failcnt=keyed("memory", "memory.events", "max"),
                memory_bytes=number("memory", "memory.current"),
            )
        usage_ns = number("cpuacct", "cpuacct.usage")
        return CgroupStats(
            peak_memory_bytes=number("memory", "memory.max_usage_in_bytes"),
            cpu_seconds=usage_ns / 1e9 if usage_ns is not None else None,
            oom_kills=keyed("memory", "memory.oom_control", "oom_kill"),
            memory_failcnt=number("memory", "memory.failcnt") or 0,
            memory_bytes=number("memory", "memory.usage_in_bytes"),
        )

    def pids(self) -> list[int]:
        text = self._read("pids", "cgroup.procs") or self._read("memory", "cgroup.procs") or ""
        return [int(pid) for pid in text.split()]

    def remove(self) -> None:
        """rmdir the (empty) directories; used by the reaper when the runtime's state is gone."""
        for directory in self.dirs.values():
            with contextlib.suppress(OSError):
                directory.rmdir()


def _enable_v2_controllers(parent: Path) -> None:
    """Delegate memory, cpu and pids down to ``parent``'s children (best effort: verify() has the last word)."""
    parent.mkdir(exist_ok=True)
    for directory in (parent.parent, parent):
        with contextlib.suppress(OSError):
            (directory / "cgroup.subtree_control").write_text("+memory +cpu +pids")


def _swap_total() -> int:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("SwapTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def sandbox_parents() -> list[Path]:
    """Directories holding our containers' cgroups (``<own cgroup>/arena-sandbox`` per hierarchy)."""
    probe = ContainerCgroup.for_relative_path(CGROUP_PARENT)
    return list(dict.fromkeys(probe.dirs.values()))


CGROUP_PARENT = "arena-sandbox"
