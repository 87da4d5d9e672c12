"""The OCI runtime spec (config.json) of one run: limits, mounts, namespaces and hardening."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sandbox.limits import Limits
from sandbox.rootfs import BOT_DIR, SANDBOX_GID, SANDBOX_UID, RootfsLayout
from sandbox.seccomp import default_profile
from sandbox.uids import UidRange

# The bot starts only after the host has read its cgroup back and verified the limits: the interpreter
# boots, writes one ready byte to stdout, then blocks on one byte of stdin that the host writes once
# verification has passed (and, for a pre-started sandbox, once a bot has been given to it).
# stdout is line-buffered, never unbuffered: gVisor answers a pipe write of more than 64 KiB with a short
# count, which an unbuffered Python writer silently drops; a BufferedWriter writes the rest.
GATE_BYTE = b"\x01"
READY_BYTE = b"\x06"  # written by the interpreter to stdout before it waits at the gate
POOLED_ARG = "--arena-pooled"
BOOTSTRAP = (
    "def _arena_boot():\n"
    " import os,sys\n"
    " os.write(1,b'\\x06')\n"
    " if os.read(0,1)!=b'\\x01':os._exit(125)\n"
    " sys.stdout.reconfigure(line_buffering=True)\n"
    " del sys.argv[0];path=sys.argv[0]\n"
    " if sys.argv[1:]==['--arena-pooled']:\n"  # a pre-started sandbox: argv and env follow the gate
    "  line=b''\n"
    "  while not line.endswith(b'\\n'):\n"
    "   c=os.read(0,1)\n"
    "   if not c:os._exit(125)\n"
    "   line+=c\n"
    "  import json;spec=json.loads(line);sys.argv[1:]=spec['argv'];os.environ.update(spec['env'])\n"
    " sys.path[0]=os.path.dirname(path)\n"
    " with open(path,'rb') as f:code=compile(f.read(),path,'exec')\n"
    " g=sys.modules['__main__'].__dict__;del g['_arena_boot'];g['__file__']=path\n"
    " return code,g\n"
    "exec(*_arena_boot())\n"
)

MASKED_PATHS = [
    "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
]
SIGNALS_PENDING = 256  # queued signals a bot may have outstanding (RLIMIT_SIGPENDING)
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]



def bind_options(*, recursive_readonly: bool, executable: bool, runtime: str = "runc") -> list[str]:
    """Options of a read-only bind mount. A plain "ro" makes only the top mount read-only: runc left a sub-mount
    of the source writable. With "rro" (runc >= 1.1 on Linux >= 5.12) every sub-mount is read-only too. Without
    it, runsc binds recursively: gVisor serves the whole tree through one read-only mount of its own (writes
    into sub-mounts fail); runc binds non-recursively, so no sub-mount comes in at all (in the sandbox's user
    namespace the kernel refuses that bind if the source has sub-mounts: the bot does not start, nothing is
    writable). ``executable=False`` adds noexec."""
    if recursive_readonly:
        recursion = ["rbind", "ro", "rro"]
    else:
        recursion = ["rbind", "ro"] if runtime == "runsc" else ["bind", "ro"]
    return [*recursion, "nosuid", "nodev", *([] if executable else ["noexec"])]


def base_env(layout: RootfsLayout) -> dict[str, str]:
    """The whole environment of a bot: nothing is inherited from the host."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }
    env.update(layout.env)
    return env


def python_args(layout: RootfsLayout, entry: str, args: Sequence[str]) -> list[str]:
    """argv that runs ``entry`` (a path inside the container) behind the start gate."""
    return [layout.python, "-s", "-B", "-c", BOOTSTRAP, entry, *args]


def build_config(
    *,
    layout: RootfsLayout,
    rootfs: Path,
    limits: Limits,
    args: Sequence[str],
    bot_source: Path | None,
    cgroups_path: str,
    env: Mapping[str, str] | None = None,
    extra_binds: Sequence[tuple[str, str]] = (),
    seccomp: bool = True,
    runtime: str = "runc",
    recursive_readonly: bool = False,
    uids: UidRange | None = None,
) -> dict[str, Any]:
    """Return the OCI config for one run. ``bot_source`` is a file (mounted as /bot/main.py) or a folder.

    The bot's code, and everything bound in that holds no program, is mounted noexec. With ``uids`` the
    container gets a user namespace of its own, mapped onto that host range (sandbox/uids.py)."""
    environment = base_env(layout)
    environment.update(env or {})
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "noexec", "strictatime", "mode=755", "size=64k"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={min(limits.tmp_bytes, 16 << 20)}"]},
        # A fresh, size-capped tmpfs per run: nothing persists between runs, ENOSPC at the cap.
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "noexec", "mode=1777", f"size={limits.tmp_bytes}"]},
    ]
    code = bind_options(recursive_readonly=recursive_readonly, executable=False, runtime=runtime)
    for bind in layout.binds:
        options = bind_options(recursive_readonly=recursive_readonly, executable=bind.executable, runtime=runtime)
        mounts.append({"destination": bind.target, "type": "bind", "source": bind.source, "options": options})
    for mask in layout.masks:
        mounts.append({"destination": mask, "type": "tmpfs", "source": "tmpfs", "options": ["ro", "size=4k"]})
    if bot_source is not None:
        target = BOT_DIR if bot_source.is_dir() else f"{BOT_DIR}/main.py"
        mounts.append({"destination": target, "type": "bind", "source": str(bot_source), "options": code})
    for source, target in extra_binds:
        mounts.append({"destination": target, "type": "bind", "source": source, "options": code})

    namespaces = ["pid", "network", "ipc", "uts", "mount", "cgroup", *(["user"] if uids else [])]
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": SANDBOX_UID, "gid": SANDBOX_GID, "additionalGids": []},
            "args": list(args),
            "env": [f"{key}={value}" for key, value in environment.items()],
            "cwd": BOT_DIR,
            "capabilities": {"bounding": [], "effective": [], "inheritable": [], "permitted": [], "ambient": []},
            "rlimits": [
                {"type": "RLIMIT_NOFILE", "hard": limits.open_files, "soft": limits.open_files},
                {"type": "RLIMIT_CPU", "hard": limits.effective_cpu_seconds + 1,
                 "soft": limits.effective_cpu_seconds},
                {"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
                # Counted per user up the chain of user namespaces, so also against the host's root, who created
                # the sandbox's namespace: a bot gets none or little (seccomp refuses inotify and mqueues too).
                {"type": "RLIMIT_MEMLOCK", "hard": 0, "soft": 0},
                {"type": "RLIMIT_MSGQUEUE", "hard": 0, "soft": 0},
                {"type": "RLIMIT_SIGPENDING", "hard": SIGNALS_PENDING, "soft": SIGNALS_PENDING},
                # gVisor counts tasks per sandbox, so this is the bot's process and thread limit there (its
                # pids cgroup also holds the Sentry's own threads). Under runc it would count every bot's
                # processes together (one uid), so runc relies on the pids cgroup alone.
                *([{"type": "RLIMIT_NPROC", "hard": limits.pids, "soft": limits.pids}] if runtime == "runsc" else []),
            ],
            "noNewPrivileges": True,
            "oomScoreAdj": 500,  # under host-wide memory pressure, bots go before the host's services
        },
        "root": {"path": str(rootfs), "readonly": True},
        "hostname": "bot",
        "mounts": mounts,
        "linux": {
            "namespaces": [{"type": t} for t in namespaces],
            **({"uidMappings": uids.mappings(), "gidMappings": uids.mappings()} if uids else {}),
            "cgroupsPath": cgroups_path,
            "resources": {
                "devices": [{"allow": False, "access": "rwm"}],
                "memory": {"limit": limits.memory_bytes, "swap": limits.memory_bytes},
                "cpu": {"quota": limits.cfs_quota_us, "period": limits.cfs_period_us},
                "pids": {"limit": limits.pids},
            },
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
            **({"seccomp": default_profile(runtime=runtime)} if seccomp else {}),
        },
    }


def write_bundle(directory: Path, config: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / "config.json"
    with open(path, "w") as handle:
        json.dump(config, handle)
    os.chmod(path, 0o600)
    return directory
