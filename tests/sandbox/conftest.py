"""Fixtures for the sandbox suite: real runsc (gVisor) and real runc, as root; each runtime test runs on both.

Skipped (with the reason) only without root or a runtime binary; scripts/bootstrap.sh installs both."""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sandbox import Limits, Outcome, Sandbox

RUNTIMES = ("runsc", "runc")


def skip_reason(runtime: str) -> str | None:
    if os.geteuid() != 0:
        return "the sandbox tests need root (the host writes and verifies cgroup limits)"
    if not (shutil.which(runtime) or os.path.exists(f"/usr/sbin/{runtime}") or os.path.exists(f"/usr/bin/{runtime}")):
        return f"{runtime} is not installed (scripts/bootstrap.sh installs it)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.sandbox)
            callspec = getattr(item, "callspec", None)
            runtime = callspec.params.get("runtime") if callspec else None
            reason = skip_reason(runtime) if runtime else None
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


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


@pytest.fixture(scope="session", params=RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> str:
    """The OCI runtime under test: every test that asks for it (or a sandbox) runs on runsc and on runc."""
    return str(request.param)


@pytest.fixture(scope="session")
def needs_runtime(runtime: str) -> str:
    """Marks a test as needing a real runtime as root (skipped otherwise); the runtime's name."""
    return runtime


@pytest.fixture(scope="session")
def box(runtime: str) -> Sandbox:
    return Sandbox(Limits(wall_seconds=20), runtime=runtime)


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
