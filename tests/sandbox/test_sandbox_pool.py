"""Pre-started sandboxes: booted and verified at their gates, handed a bot on demand, on both runtimes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sandbox import Limits, Sandbox, Status
from sandbox.cgroup import CGROUP_PARENT, ContainerCgroup

pytestmark = pytest.mark.sandbox


def _cgroup_exists(container_id: str) -> bool:
    cgroup = ContainerCgroup.for_relative_path(f"{CGROUP_PARENT}/{container_id}")
    return any(path.exists() for path in cgroup.dirs.values())


@pytest.fixture
def pooled(runtime: str) -> Iterator[Sandbox]:
    box = Sandbox(Limits(wall_seconds=20, memory_bytes=128 << 20), runtime=runtime)
    box.keep_ready(2)
    assert box.pool is not None and box.pool.wait_ready(timeout=60), box.pool and box.pool.last_error
    yield box
    box.close()


def test_a_pooled_sandbox_runs_the_bot_it_is_handed(pooled: Sandbox, write_bot: Callable[[str], Path],
                                                     tmp_path: Path) -> None:
    assert pooled.pool is not None
    waiting = {process.container_id for process in pooled.pool._ready}
    bot = write_bot("print(json.dumps({'argv': sys.argv[1:], 'env': os.environ.get('ARENA_TEST'), 'file': __file__}))")
    outcome = pooled.run(bot, ["--seed", "7"], env={"ARENA_TEST": "yes"})
    assert outcome.ok, outcome
    assert outcome.container_id in waiting  # it came from the pool, not a cold start
    assert json.loads(outcome.stdout) == {"argv": ["--seed", "7"], "env": "yes", "file": "/bot/main.py"}
    assert not _cgroup_exists(outcome.container_id)

    folder = tmp_path / "folderbot"
    folder.mkdir()
    (folder / "helper.py").write_text("VALUE = 41\n")
    (folder / "main.py").write_text("import helper\nprint(helper.VALUE + 1)\n")
    outcome = pooled.run(folder)
    assert outcome.ok and outcome.stdout == b"42\n", outcome


def test_the_pool_refills_and_its_sandboxes_have_verified_limits(pooled: Sandbox,
                                                                  write_bot: Callable[[str], Path]) -> None:
    assert pooled.pool is not None
    with pooled.start(write_bot("time.sleep(30)"), capture_stdout=True) as process:
        memory = process.cgroup.dirs["memory"] / "memory.limit_in_bytes"
        assert memory.read_text().strip() == str(128 << 20)
        # A sandbox boots with a larger CPU quota (runsc); the bot's own is in force once its gate opened.
        quota = process.cgroup.dirs["cpu"] / "cpu.cfs_quota_us"
        assert quota.read_text().strip() == str(pooled.limits.cfs_quota_us)
        assert pooled.pool.wait_ready(timeout=60)  # a new one booted in the background
        process.kill()
    assert process.wait().status is Status.KILLED


def test_other_limits_start_cold_and_closing_the_pool_leaves_nothing(pooled: Sandbox,
                                                                      write_bot: Callable[[str], Path]) -> None:
    assert pooled.pool is not None
    waiting = [process.container_id for process in pooled.pool._ready]
    outcome = pooled.run(write_bot("print('cold')"), limits=pooled.limits.replace(memory_bytes=96 << 20))
    assert outcome.ok and outcome.container_id not in waiting
    pooled.close()
    assert pooled.pool.ready == 0
    assert not any(_cgroup_exists(container_id) for container_id in waiting)



