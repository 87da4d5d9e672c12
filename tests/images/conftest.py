"""Fixtures for the runner-image suite: real mmdebstrap (network to the Debian mirror), a real private dockerd,
real chroots, as root. Each expensive artefact is built once per session and timed (see the summary line).

Skipped (with the reason) only without root, mmdebstrap or dockerd; scripts/bootstrap.sh installs them."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from arena.children import find_tool
from arena.images.base import BaseRecipe, BaseTarball, build_base
from arena.images.build import RunnerImage, build_runner
from arena.images.dockerd import PrivateDockerd
from arena.images.fs import remove_tree

TIMINGS: dict[str, float] = {}  # seconds
SIZES: dict[str, int] = {}  # bytes


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "the image tests need root (mmdebstrap --mode=root, chroot, a private dockerd)"
    for tool, package in (("mmdebstrap", "mmdebstrap"), ("dockerd", "docker.io"), ("containerd", "containerd")):
        if find_tool(tool) is None:
            return f"{tool} is not installed (Debian package {package}; scripts/bootstrap.sh installs it)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    reason = skip_reason()
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.images)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        parts = [f"{name} {seconds:.1f}s" for name, seconds in TIMINGS.items()]
        parts += [f"{name} {size / 2**20:.0f} MiB" for name, size in SIZES.items()]
        terminalreporter.write_line(f"runner image: {', '.join(parts)}")


@pytest.fixture(scope="session")
def work_dir() -> Iterator[Path]:
    """Scratch space for the session's trees (~1 GB), removed at the end rather than kept by pytest."""
    path = Path(tempfile.mkdtemp(prefix="arena-images-test-"))
    yield path
    remove_tree(path)


@pytest.fixture(scope="session")
def base_tarball(work_dir: Path) -> BaseTarball:
    base = build_base(BaseRecipe(), work_dir / "base")
    TIMINGS["base tarball"] = base.seconds
    SIZES["base tarball"] = base.path.stat().st_size
    return base


@pytest.fixture(scope="session")
def engine(work_dir: Path) -> Iterator[PrivateDockerd]:
    started = time.monotonic()
    with PrivateDockerd(data_root=work_dir / "dockerd") as private:
        TIMINGS["dockerd start"] = time.monotonic() - started
        pids = private.pids
        yield private
    alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    assert alive == [], f"dockerd/containerd outlived the fixture: {alive}"


@pytest.fixture(scope="session")
def docker_image(engine: PrivateDockerd, base_tarball: BaseTarball, work_dir: Path) -> RunnerImage:
    """The runner rootfs built by the private dockerd (import, build, export)."""
    image = build_runner(work_dir / "images-docker", engine=engine.api, base=base_tarball)
    TIMINGS["docker import+build+export"] = image.timings["total"]
    SIZES["rootfs"] = sum(os.lstat(os.path.join(d, f)).st_size for d, _, fs in os.walk(image.rootfs) for f in fs)
    return image


@pytest.fixture(scope="session")
def python_image(base_tarball: BaseTarball, work_dir: Path) -> RunnerImage:
    """The same recipe assembled without Docker."""
    image = build_runner(work_dir / "images-python", docker_engine=False, base=base_tarball)
    TIMINGS["no-docker assemble"] = image.timings["total"]
    return image
