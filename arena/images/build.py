"""``build_runner``: the runner rootfs for the current recipe, from the cache, Docker, or plain Python."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import docker

from arena.images import rootfs as store
from arena.images.assemble import assemble_rootfs
from arena.images.base import BaseRecipe, BaseTarball, build_base
from arena.images.dockerd import PrivateDockerd, engine_available
from arena.images.errors import DockerdError, ImageError, NeedsRootError
from arena.images.fs import remove_tree
from arena.images.recipe import RUNNER_DIR, RunnerRecipe
from arena.images.runner import build_image, export_image, import_base
from arena.images.wheels import fetch_wheels

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RunnerImage:
    rootfs: Path  # <images dir>/rootfs/python-<digest[:16]>, read-only by convention, root-owned
    digest: str  # sha256 (hex) of the recipe: base recipe, Dockerfile, manifest script, wheel pins, SDK sources
    manifest: dict[str, Any]  # /opt/arena/manifest.json
    builder: Literal["docker", "python", "cache"]
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase

    @property
    def cached(self) -> bool:
        return self.builder == "cache"


def _quiet(_line: str) -> None:
    pass


def build_runner(images_dir: Path | None = None, *, docker_engine: bool | None = None,
                 engine: docker.APIClient | None = None, base: BaseTarball | None = None,
                 context_dir: Path = RUNNER_DIR, force: bool = False, progress: Progress = _quiet) -> RunnerImage:
    """Make sure the runner rootfs of the current recipe exists and is current; return it.

    ``docker_engine``: True builds with Docker (``engine``, else a private dockerd started for the
    build), False assembles the same tree in Python, None picks Docker when dockerd is installed.
    ``base``: a base tarball already built (else it comes from ``<images dir>/base``).
    A rootfs already built for the same digest is reused unless ``force``.
    """
    if os.geteuid() != 0:
        raise NeedsRootError("building the runner rootfs needs root (mmdebstrap, chroot, root-owned files)")
    images = store.images_dir(images_dir)
    recipe = RunnerRecipe.from_dir(base.recipe if base else BaseRecipe(), context_dir)
    digest = recipe.digest()
    timings: dict[str, float] = {}
    final = store.rootfs_path(images, digest)
    if not force and store.is_complete(final, digest):
        store.point_current(images, final)
        progress(f"{final} is up to date (digest {digest[:16]}): nothing to build")
        return RunnerImage(final, digest, store.read_manifest(final), "cache", timings)

    started = time.monotonic()
    if base is None:
        base = build_base(recipe.base, images / "base", progress=progress, force=force)
    timings["base"] = base.seconds
    phase = time.monotonic()
    wheels = fetch_wheels(recipe.wheel_pins, recipe.base.architecture, images / "wheels", progress)
    timings["wheels"] = time.monotonic() - phase
    use_docker = engine is not None or (docker_engine if docker_engine is not None else engine_available())
    staging = store.staging_dir(images)
    try:
        if use_docker and engine is not None:
            _docker_build(engine, recipe, base, wheels, staging, progress, timings)
        elif use_docker:
            phase = time.monotonic()
            private = PrivateDockerd(data_root=images, progress=progress)
            try:
                private.start()
            except DockerdError as exc:
                if docker_engine is not None:
                    raise
                # Chosen only because dockerd is installed; it cannot run here (no cgroups, say): no Docker then.
                progress(f"the private dockerd did not start, assembling without Docker: {exc}")
                use_docker = False
            if use_docker:
                timings["dockerd_start"] = time.monotonic() - phase
                try:
                    _docker_build(private.api, recipe, base, wheels, staging, progress, timings)
                finally:
                    private.stop()
        if not use_docker:
            phase = time.monotonic()
            assemble_rootfs(recipe, base, staging, progress, wheels)
            timings["assemble"] = time.monotonic() - phase
        store.finalize(staging)
        if not store.is_complete(staging, digest):
            raise ImageError(f"the built tree's manifest does not carry digest {digest}", code="BAD_MANIFEST")
        final = store.install(staging, images, digest)
    except BaseException:
        remove_tree(staging)
        raise
    timings["total"] = time.monotonic() - started
    progress(f"rootfs ready: {final}")
    return RunnerImage(final, digest, store.read_manifest(final), "docker" if use_docker else "python", timings)


def _docker_build(api: docker.APIClient, recipe: RunnerRecipe, base: BaseTarball, wheels: list[Path], dest: Path,
                  progress: Progress, timings: dict[str, float]) -> None:
    phase = time.monotonic()
    base_ref = import_base(api, base, progress)
    timings["import"] = time.monotonic() - phase
    phase = time.monotonic()
    image = build_image(api, recipe, base_ref, progress, wheels)
    timings["build"] = time.monotonic() - phase
    phase = time.monotonic()
    export_image(api, image, base, dest, progress)
    timings["export"] = time.monotonic() - phase
