"""The host's file descriptors: what bounds how many bots one process can run.

A running bot holds 3 pipes and a pidfd in its host process, and its supervisor two Redis connections; starting
and ending it (the runtime's kill and delete calls) briefly takes 5 more. Out of fds, a bot's pipes, its runtime's
calls or its supervisor's connections fail at random places, its own or another bot's: a bot the host has no fds
for is refused before anything of it exists, a host fault with a message that says what to do.
"""

from __future__ import annotations

import os
import resource

from sandbox.errors import SandboxRefused

HEADROOM = 48  # a bot's own fds, and room for other bots' transient ones


def in_use() -> int:
    return len(os.listdir("/proc/self/fd")) - 1  # listdir's own fd


def ensure_headroom() -> None:
    """Raise SandboxRefused unless another bot's fds fit under this process's open-files limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return
    used = in_use()
    if used + HEADROOM > soft:
        raise SandboxRefused(
            f"this host has no file descriptors left for another bot ({used} of {soft} open, {HEADROOM} needed); "
            "raise its open-files limit (ulimit -n) or run fewer bots on it"
        )
