"""A process's line in ``/proc/<pid>/stat``, read the one safe way: its command name may hold spaces and ')'."""

from __future__ import annotations


def stat_fields(pid: int) -> list[str] | None:
    """The fields after the command name (0: state, 1: parent pid, 19: start time), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
