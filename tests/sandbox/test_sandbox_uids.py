"""Host uid slots (sandbox/uids.py) and the bot's private copy (sandbox/botfiles.py), without a runtime."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import BotNotFound, RuntimeUnavailable, SandboxRefused
from sandbox.botfiles import copy_private
from sandbox.uids import ENV_BASE, ENV_SLOTS, RANGE_SIZE, UidRange, configured, take

ROOT = Path(__file__).resolve().parents[2]
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="giving files to other uids needs root")


def test_slots_are_exclusive_and_each_maps_its_own_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_SLOTS, "2")
    first, second = take(tmp_path), take(tmp_path)
    assert {first.index, second.index} == {0, 1}
    assert abs(first.uids.first - second.uids.first) == RANGE_SIZE
    with pytest.raises(SandboxRefused, match="all 2 uid slots"):
        take(tmp_path)
    first.release()
    again = take(tmp_path)
    assert again.index == first.index
    assert again.uids.mappings() == [{"containerID": 0, "hostID": again.uids.first, "size": 65536}]
    assert again.uids.host(10001) == again.uids.first + 10001
    again.release()
    second.release()


def test_a_slot_held_by_a_process_is_freed_when_it_dies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lock is the kernel's: a host killed by SIGKILL leaves no slot taken forever (nor a stale file to read)."""
    monkeypatch.setenv(ENV_SLOTS, "1")
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from pathlib import Path; from sandbox.uids import take;"
            f"slot = take(Path({str(tmp_path)!r})); print(slot.index, flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              env=os.environ | {ENV_SLOTS: "1"})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"0"
        with pytest.raises(SandboxRefused):
            take(tmp_path)
    finally:
        holder.kill()
        holder.wait()
    take(tmp_path).release()


@pytest.mark.parametrize(("base", "slots"), [("1000", "1"), (str(0xFFFF0000), "2"), ("x", "1"), ("100000", "0")])
def test_a_range_that_is_not_valid_host_uids_is_refused(monkeypatch: pytest.MonkeyPatch, base: str, slots: str) -> None:
    monkeypatch.setenv(ENV_BASE, base)
    monkeypatch.setenv(ENV_SLOTS, slots)
    with pytest.raises(RuntimeUnavailable, match=ENV_BASE):
        configured()


def test_the_default_range_stays_below_two_to_the_31() -> None:
    base, slots = configured()
    assert base >= 0x7000_0000 and base + slots * RANGE_SIZE <= 1 << 31
    assert UidRange(base).host(0) == base


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@as_root
def test_the_copy_is_its_own_uids_alone_and_never_follows_a_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"  # say, /etc/shadow
    outside.write_text("not the bot's")
    outside.chmod(0o640)
    bot = tmp_path / "bot"
    (bot / "pkg").mkdir(parents=True)
    (bot / "main.py").write_text("print(1)\n")
    (bot / "pkg" / "data.json").write_text("{}")
    (bot / "run.sh").write_text("#!/bin/sh\n")
    (bot / "run.sh").chmod(0o755)
    (bot / "escape").symlink_to(outside)
    target = tmp_path / "copy"
    copy_private(bot, target, 50000, 50001)
    for path in [target, *target.rglob("*")]:
        info = os.lstat(path)
        assert (info.st_uid, info.st_gid) == (50000, 50001), path
    assert _mode(target) == _mode(target / "pkg") == 0o500
    assert _mode(target / "main.py") == _mode(target / "pkg" / "data.json") == 0o400
    assert _mode(target / "run.sh") == 0o500
    assert (target / "escape").is_symlink() and os.readlink(target / "escape") == str(outside)
    assert _mode(outside) == 0o640 and outside.stat().st_uid == os.getuid()  # untouched through the link
    single = tmp_path / "single"
    copy_private(bot / "main.py", single, 50000, 50001)
    assert sorted(p.name for p in single.iterdir()) == ["main.py"]


@as_root
def test_special_files_and_oversized_bots_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bot = tmp_path / "bot"
    bot.mkdir()
    (bot / "main.py").write_text("print(1)\n")
    os.mkfifo(bot / "pipe")  # reading it would block the host
    with pytest.raises(BotNotFound, match="fifo"):
        copy_private(bot, tmp_path / "a", 50000, 50000)
    (bot / "pipe").unlink()
    for i in range(5):
        (bot / f"f{i}.txt").write_text("x")
    monkeypatch.setattr("sandbox.botfiles.MAX_ENTRIES", 4)
    with pytest.raises(BotNotFound, match="more than 4 files"):
        copy_private(bot, tmp_path / "b", 50000, 50000)
    monkeypatch.setattr("sandbox.botfiles.MAX_ENTRIES", 100)
    monkeypatch.setattr("sandbox.botfiles.MAX_BYTES", 4)
    with pytest.raises(BotNotFound, match="MiB"):
        copy_private(bot, tmp_path / "c", 50000, 50000)
