"""Limits parsing/validation and the seccomp profile's shape (no runtime needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import Limits, LimitsError, parse_bytes, parse_cpu, parse_seconds
from sandbox.seccomp import CLONE_NAMESPACE_FLAGS, DENIED, default_profile

pytestmark = pytest.mark.sandbox


@pytest.mark.parametrize(
    ("text", "expected"),
    [("256M", 256 << 20), ("256MiB", 256 << 20), ("1G", 1 << 30), ("32m", 32 << 20), ("4096", 4096),
     ("1.5K", 1536), (1024, 1024)],
)
def test_parse_bytes(text: str | int, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "12Q", "-1M", "0", "M", "1 TB"])
def test_parse_bytes_rejects(text: str) -> None:
    with pytest.raises(LimitsError):
        parse_bytes(text, what="memory")


def test_parse_cpu_and_seconds() -> None:
    assert parse_cpu("0.5") == 0.5 and parse_cpu("250m") == 0.25
    assert parse_seconds("2m") == 120 and parse_seconds("30") == 30 and parse_seconds("1h") == 3600
    with pytest.raises(LimitsError):
        parse_cpu("lots")
    with pytest.raises(LimitsError):
        parse_seconds("soon")


def test_defaults_match_the_design() -> None:
    limits = Limits()
    assert (limits.cpu, limits.memory_bytes, limits.pids, limits.open_files, limits.tmp_bytes) == (
        0.5, 256 << 20, 64, 128, 32 << 20)
    assert (limits.cfs_quota_us, limits.cfs_period_us) == (50_000, 100_000)
    assert limits.effective_cpu_seconds == 31  # 60 s at 0.5 vCPU, plus one


@pytest.mark.parametrize(
    "changes",
    [{"cpu": 0}, {"cpu": 100}, {"memory": "1M"}, {"pids": 1}, {"timeout": 0}, {"open_files": 3}],
)
def test_invalid_limits_have_clear_errors(changes: dict[str, object]) -> None:
    with pytest.raises(LimitsError, match="must"):
        Limits.parse(**changes)  # type: ignore[arg-type]


def test_parse_overrides() -> None:
    limits = Limits.parse(cpu="1", memory="512M", pids=100, timeout="10s", cpu_seconds=5)
    assert limits.memory_bytes == 512 << 20 and limits.wall_seconds == 10 and limits.effective_cpu_seconds == 5


def test_seccomp_profile_denies_by_default_and_never_allows_the_dangerous() -> None:
    profile = default_profile("x86_64")
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    allowed = {name for rule in profile["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW" and "args" not in rule
               for name in rule["names"]}
    assert not allowed & DENIED
    for needed in ("bpf", "perf_event_open", "keyctl", "add_key", "io_uring_setup", "unshare", "mount",
                   "ptrace", "clock_settime", "setns"):
        assert needed in DENIED and needed not in allowed
    clone = next(rule for rule in profile["syscalls"] if rule["names"] == ["clone"])
    assert clone["args"][0]["value"] == CLONE_NAMESPACE_FLAGS and clone["args"][0]["op"] == "SCMP_CMP_MASKED_EQ"
    clone3 = next(rule for rule in profile["syscalls"] if rule["names"] == ["clone3"])
    assert clone3["errnoRet"] == 38


def test_an_unpacked_image_must_have_the_runner_layout(tmp_path: object) -> None:
    from sandbox import SandboxError
    from sandbox.rootfs import image_layout

    with pytest.raises(SandboxError, match="missing usr/local/bin/python3"):
        image_layout(str(tmp_path))


def test_host_layout_hides_the_hosts_site_packages_and_binds_read_only() -> None:
    from sandbox.bundle import build_config
    from sandbox.rootfs import host_layout

    layout = host_layout()
    config = build_config(layout=layout, rootfs=Path("/nonexistent"), limits=Limits(), args=["x"],
                          bot_source=None, cgroups_path="arena-sandbox/x")
    binds = [m for m in config["mounts"] if m["type"] == "bind"]
    assert binds and all({"ro", "nosuid", "nodev"} <= set(m["options"]) for m in binds)
    assert any(m["destination"].endswith("site-packages") and m["type"] == "tmpfs" for m in config["mounts"])
    assert config["process"]["user"]["uid"] != 0 and config["process"]["noNewPrivileges"] is True
    assert config["root"]["readonly"] is True
    assert not any(value for value in config["process"]["capabilities"].values())
    assert {"type": "network"} in config["linux"]["namespaces"]
