"""Fixtures for the sandbox suite: real runc, as root. Skipped (with the reason) only without those."""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("ARENA_SANDBOX_RUNTIME", "runc")

from sandbox import Limits, Outcome, Sandbox

_SKIP_REASON = None
if os.geteuid() != 0:
    _SKIP_REASON = "the sandbox tests need root (runc applies cgroup limits)"
elif not (shutil.which("runc") or os.path.exists("/usr/sbin/runc")):
    _SKIP_REASON = "runc is not installed (scripts/bootstrap.sh installs it)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.sandbox)
            if _SKIP_REASON and "needs_runtime" in item.fixturenames:
                item.add_marker(pytest.mark.skip(reason=_SKIP_REASON))


# Shared by every hostile bot: raw syscalls and one JSON report line.
PRELUDE = """
import ctypes, errno, json, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
def sc(nr, *args):
    ctypes.set_errno(0)
    result = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return result, errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno())
def report(**fields):
    print(json.dumps(fields), flush=True)
"""


@pytest.fixture(scope="session")
def needs_runtime() -> None:
    """Marks a test as needing real runc as root (skipped otherwise)."""


@pytest.fixture(scope="session")
def box(needs_runtime: None) -> Sandbox:
    return Sandbox(Limits(wall_seconds=20))


@pytest.fixture
def write_bot(tmp_path: Path) -> Callable[[str], Path]:
    counter = iter(range(1000))

    def write(code: str) -> Path:
        path = tmp_path / f"bot{next(counter)}.py"
        path.write_text(PRELUDE + textwrap.dedent(code))
        path.chmod(0o644)
        return path

    return write


@pytest.fixture
def run_bot(box: Sandbox, write_bot: Callable[[str], Path]) -> Callable[..., Outcome]:
    def run(code: str, *, stdin: bytes | None = None, args: tuple[str, ...] = (), **limits: Any) -> Outcome:
        chosen = box.limits.replace(**limits) if limits else None
        return box.run(write_bot(code), args, limits=chosen, stdin=stdin)

    return run


def report(outcome: Outcome) -> dict[str, Any]:
    """The bot's last JSON line."""
    lines = [line for line in outcome.stdout.splitlines() if line.startswith(b"{")]
    assert lines, f"no report from the bot: {outcome}"
    return json.loads(lines[-1])


@pytest.fixture
def bot_report() -> Callable[[Outcome], dict[str, Any]]:
    return report
