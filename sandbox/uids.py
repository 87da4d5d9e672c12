"""Host uid ranges: every sandbox runs in a user namespace of its own, mapped onto host uids no other sandbox uses.

Without one, every bot on a host was host uid 10001: bots shared the kernel's per-user limits and counters, and a
bot that escaped would be the same user as every other bot. Each sandbox now takes a *slot*: 65536 host uids and
gids starting at ``base + slot * 65536``, mapped to 0-65535 inside (the bot, uid 10001 inside, is host uid
``first + 10001``). The range is configured with ``ARENA_SANDBOX_UID_BASE`` and ``ARENA_SANDBOX_UID_SLOTS``; the
default, 0x70000000 and 4096 slots, lies above systemd-nspawn's container range and the usual /etc/subuid
ranges and below 2**31.

A slot is held by an exclusive ``flock`` on ``<state dir>/uids/<slot>.lock``, so host processes on one machine
never share one, and the kernel releases it however its holder dies. The lock's file descriptor is also given
to the runtime's own process (which outlives a host killed by SIGKILL until the watchdog removes its
containers), so a slot is free only once nothing of its sandbox is left.
"""

from __future__ import annotations

import fcntl
import os
import random
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.errors import RuntimeUnavailable, SandboxRefused

ENV_BASE = "ARENA_SANDBOX_UID_BASE"
ENV_SLOTS = "ARENA_SANDBOX_UID_SLOTS"
RANGE_SIZE = 65536
DEFAULT_BASE = 0x7000_0000
DEFAULT_SLOTS = 4096
_UID_MAX = 0xFFFF_FFFE  # (uid_t)-1 means "no uid"
_USERNS_MAX = Path("/proc/sys/user/max_user_namespaces")


@dataclass(frozen=True)
class UidRange:
    """Host uids (and gids) ``first`` .. ``first + 65535``, seen as 0 .. 65535 inside the sandbox."""

    first: int

    def host(self, inside: int) -> int:
        """The host uid of ``inside`` (e.g. the bot's 10001)."""
        return self.first + inside

    def mappings(self) -> list[dict[str, Any]]:
        """OCI ``linux.uidMappings`` (and ``gidMappings``)."""
        return [{"containerID": 0, "hostID": self.first, "size": RANGE_SIZE}]


def configured() -> tuple[int, int]:
    """(base, slots) from the environment, checked: the whole range must be valid host uids above 65535."""
    try:
        base = int(os.environ.get(ENV_BASE) or str(DEFAULT_BASE), 0)
        slots = int(os.environ.get(ENV_SLOTS) or str(DEFAULT_SLOTS), 0)
    except ValueError:
        raise RuntimeUnavailable(f"{ENV_BASE} and {ENV_SLOTS} must be whole numbers") from None
    if base < RANGE_SIZE or slots < 1 or base + slots * RANGE_SIZE - 1 > _UID_MAX:
        raise RuntimeUnavailable(
            f"{ENV_BASE}={base} with {ENV_SLOTS}={slots} is not a usable uid range: it must start at 65536 or "
            f"above and end at or below {_UID_MAX} (each slot takes {RANGE_SIZE} uids)"
        )
    return base, slots


def require_user_namespaces() -> None:
    """Refuse to run bots where the kernel allows no user namespaces (never fall back to a shared uid)."""
    try:
        allowed = int(_USERNS_MAX.read_text())
    except (OSError, ValueError):
        return  # an older kernel without the knob: the runtime will say if it cannot create one
    if allowed == 0:
        raise RuntimeUnavailable(
            "user namespaces are disabled on this host (user.max_user_namespaces = 0); the sandbox runs every "
            "bot in a user namespace of its own: set the sysctl to a few thousand"
        )


def require_reachable(path: Path, what: str) -> None:
    """Every folder above ``path`` must let any user pass (o+x): a sandbox's own uids open it from there (runc's
    init mounts the rootfs as the sandbox's root; under runsc the gofer serves every bind as that uid)."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.stat().st_mode & stat.S_IXOTH:
            raise RuntimeUnavailable(
                f"{what} {path} is inside {parent}, which other users cannot enter (chmod o+x, or move it): the "
                "sandbox runs on uids of its own, which must reach it"
            )


class UidSlot:
    """One slot, held until ``release()``. ``fd`` is the lock's descriptor (to hand to the runtime process)."""

    def __init__(self, index: int, uids: UidRange, fd: int) -> None:
        self.index, self.uids, self.fd = index, uids, fd

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def take(directory: Path) -> UidSlot:
    """Lock a free slot (starting at a random one, so concurrent hosts rarely collide) and return it."""
    base, slots = configured()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    start = random.randrange(slots)
    for step in range(slots):
        index = (start + step) % slots
        fd = os.open(directory / f"{index}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return UidSlot(index, UidRange(base + index * RANGE_SIZE), fd)
    raise SandboxRefused(f"all {slots} uid slots of this host are in use ({ENV_SLOTS}); no bot was started")
