"""Fixtures for the runtime suite: tournaments and workers run their bots on each OCI runtime."""

from __future__ import annotations

import pytest

from tests.sandbox.conftest import RUNTIMES, skip_reason


@pytest.fixture(params=RUNTIMES)
def sandbox_runtime(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs the test once under runsc (gVisor) and once under runc, through ARENA_SANDBOX_RUNTIME (which
    worker subprocesses inherit)."""
    runtime = str(request.param)
    reason = skip_reason(runtime)
    if reason:
        pytest.skip(reason)
    monkeypatch.setenv("ARENA_SANDBOX_RUNTIME", runtime)
    return runtime
