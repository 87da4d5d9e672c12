"""Reading what the installed runsc supports, against the recorded answers of two gVisor releases.

tests/sandbox/data holds `runsc --version`, `runsc help platforms` and `runsc flags` as printed by Debian
bookworm's runsc (gVisor 2022-12-19: ptrace and kvm) and bookworm-backports' (2024-07-29: adds systrap), and
`runc features` (runc 1.1.5) with what the 2022 runsc prints for it (it has no such command).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.errors import RuntimeUnavailable
from sandbox.runsc import RunscFeatures, features_from_outputs

DATA = Path(__file__).parent / "data"


def recorded(release: str) -> RunscFeatures:
    def read(what: str) -> str:
        return (DATA / f"runsc-{release}-{what}.txt").read_text()

    return features_from_outputs(read("version"), read("platforms"), read("flags"))


def test_the_2022_release_runs_bots_on_ptrace() -> None:
    features = recorded("20221219")
    assert features.version == "0.0~20221219.0"
    assert set(features.platforms) == {"ptrace", "kvm"}
    assert features.platform() == "ptrace"
    flags = features.global_flags(features.platform())
    assert flags[:3] == ["--network=none", "--platform=ptrace", "--ignore-cgroups"]
    assert "--oci-seccomp" in flags and "--overlay2=none" in flags


def test_the_2024_release_runs_bots_on_systrap() -> None:
    features = recorded("20240729")
    assert features.version == "0.0~20240729.0"
    assert set(features.platforms) == {"ptrace", "kvm", "systrap"}
    assert features.platform() == "systrap"
    assert "--platform=systrap" in features.global_flags("systrap")


def test_kvm_only_when_asked_and_an_unknown_platform_is_a_clear_error() -> None:
    features = recorded("20221219")
    assert features.platform("kvm") == "kvm"
    with pytest.raises(RuntimeUnavailable, match=r"supports only kvm, ptrace"):
        features.platform("systrap")


def test_a_release_without_the_flags_arena_needs_is_refused_with_what_is_missing() -> None:
    features = RunscFeatures("0.0~20190101.0", ("ptrace",), frozenset({"platform", "network"}))
    with pytest.raises(RuntimeUnavailable, match=r"--ignore-cgroups"):
        features.global_flags("ptrace")
    only_kvm = RunscFeatures("x", ("kvm",), frozenset())
    with pytest.raises(RuntimeUnavailable, match="no platform Arena can use"):
        only_kvm.platform()


def test_a_binary_that_is_not_runsc_is_refused(tmp_path: Path) -> None:
    from sandbox.runsc import detect

    fake = tmp_path / "runsc"
    fake.write_text("#!/bin/sh\necho hello\n")
    fake.chmod(0o755)
    with pytest.raises(RuntimeUnavailable, match="does not answer like runsc"):
        detect(str(fake))


def test_an_explicit_runtime_that_is_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox.runtime import select_runtime

    monkeypatch.setenv("ARENA_SANDBOX_RUNTIME", "/nonexistent/runsc")
    with pytest.raises(RuntimeUnavailable, match="not installed"):
        select_runtime()


def test_recursive_read_only_binds_only_where_the_runtime_lists_rro() -> None:
    """runc 1.1 answers `runc features` with its mount options, "rro" among them; Debian's runsc 2022-12 has no
    `features` command (it prints its usage) and rejects "rro" in a spec, so its binds fall back to "rbind,ro"
    (gVisor's own read-only mount covers the sub-mounts), and a runc without it to a non-recursive bind."""
    from sandbox.bundle import bind_options
    from sandbox.runtime import parse_mount_options

    runc = parse_mount_options((DATA / "runc-1.1.5-features.json").read_text())
    assert {"rro", "rbind", "noexec", "ro"} <= runc
    assert parse_mount_options((DATA / "runsc-20221219-features.txt").read_text()) == frozenset()
    assert bind_options(recursive_readonly=True, executable=False) == ["rbind", "ro", "rro", "nosuid", "nodev",
                                                                        "noexec"]
    assert bind_options(recursive_readonly=False, executable=True) == ["bind", "ro", "nosuid", "nodev"]
    assert bind_options(recursive_readonly=False, executable=True, runtime="runsc")[:2] == ["rbind", "ro"]
