"""Smoke tests from pre-started sandboxes (ARENA_SMOKE_POOL): same verdicts, the boot paid in advance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from arena.runtime import smoke

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.sandbox, pytest.mark.usefixtures("sandbox_runtime")]


@pytest.fixture
def pooled(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ARENA_SMOKE_POOL", "1")
    smoke._pooled_sandbox.cache_clear()
    yield
    smoke._pooled_sandbox(1).close()  # the one the test used (cached)
    smoke._pooled_sandbox.cache_clear()


def test_smoke_tests_take_pre_started_sandboxes(pooled: None, tmp_path: Path) -> None:
    sandbox = smoke._pooled_sandbox(1)
    assert sandbox.pool is not None and sandbox.pool.wait_ready(timeout=60), sandbox.pool and sandbox.pool.last_error
    waiting = {process.container_id for process in sandbox.pool._ready}
    good = smoke.smoke_test(ROOT / "examples" / "bots" / "buy_and_hold.py")
    assert good.ok and good.classification == "exited", good
    assert waiting and not any(process.container_id in waiting for process in sandbox.pool._ready)  # taken
    silent = tmp_path / "silent.py"
    silent.write_text("import time\ntime.sleep(60)\n")
    silent.chmod(0o644)
    assert sandbox.pool.wait_ready(timeout=60)
    bad = smoke.smoke_test(silent)
    assert not bad.ok and "hello" in bad.log, bad
