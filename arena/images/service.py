"""The service image (API, engine worker and bot host: one image, different commands), built with the Docker SDK.

No registry is involved: the base is a Debian tarball made by mmdebstrap (base.py, cached by its recipe's
digest) with python3, runsc and socat; Arena and its dependencies are wheels built on this machine by pip
(from the project's own source, with the package index pip is configured with), unpacked by the Dockerfile
(infra/service-image) in a build with networking off. The image is tagged ``arena/service:<version>`` and
``arena/service:<digest[:12]>``, where the digest covers the base recipe, the Dockerfile, the scripts and every
wheel, and saved as a ``docker load``-able archive under ``<images dir>/service``, since the private dockerd that
built it is gone afterwards.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from email.parser import Parser
from pathlib import Path

import docker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from arena.images.base import BaseRecipe, BaseTarball, build_base
from arena.images.dockerd import PrivateDockerd
from arena.images.errors import ImageError, NeedsRootError
from arena.images.fs import remove_tree
from arena.images.rootfs import images_dir as resolve_images_dir
from arena.images.runner import build_tagged, import_base, project_version
from arena.images.wheels import run_pip

Progress = Callable[[str], None]

ROOT = Path(__file__).resolve().parents[2]
SERVICE_DIR = ROOT / "infra" / "service-image"
COMPOSE_DIR = ROOT / "infra" / "compose"
REPOSITORY = "arena/service"
BASE_REPOSITORY = "arena/service-base"
# runsc for bot hosts, socat for the metrics sidecars (infra/kubernetes); numpy and pandas come as wheels, whose
# manylinux C++ extensions expect the system's libstdc++.
PACKAGES = ("python3", "libstdc++6", "ca-certificates", "tzdata", "runsc", "socat")
# The context: the Dockerfile and the command from SERVICE_DIR, the scripts the planes run from COMPOSE_DIR.
_FILES = ((SERVICE_DIR, "Dockerfile"), (SERVICE_DIR, "arena"), (COMPOSE_DIR, "entrypoint.sh"),
          (COMPOSE_DIR, "bot-host-check.sh"))
_MTIME = 946684800  # fixed times: the same inputs give the same context


def _quiet(_line: str) -> None:
    pass


def base_recipe() -> BaseRecipe:
    return BaseRecipe(packages=PACKAGES)


@dataclass(frozen=True)
class ServiceImage:
    image_id: str
    tags: tuple[str, ...]  # arena/service:<version>, arena/service:<digest[:12]>
    digest: str  # sha256 (hex) of everything that went into the build
    archive: Path | None  # `docker load` input, or None when the caller keeps the engine (and the image)
    timings: dict[str, float] = field(default_factory=dict)


# The image's own interpreter describes itself as packaging.markers.default_environment() does, plus its glibc:
# the wheels' environment markers are evaluated for it, not for the Python that runs this build.
_ENVIRONMENT_PROBE = """
import json, os, platform, sys
v = sys.implementation.version
level = "" if v.releaselevel == "final" else v.releaselevel[0] + str(v.serial)
print(json.dumps({"implementation_name": sys.implementation.name,
                  "implementation_version": f"{v.major}.{v.minor}.{v.micro}{level}", "os_name": os.name,
                  "platform_machine": platform.machine(), "platform_release": platform.release(),
                  "platform_system": platform.system(), "platform_version": platform.version(),
                  "python_full_version": platform.python_version(),
                  "platform_python_implementation": platform.python_implementation(),
                  "python_version": ".".join(platform.python_version_tuple()[:2]), "sys_platform": sys.platform,
                  "glibc": os.confstr("CS_GNU_LIBC_VERSION").split()[-1]}))
"""


def image_environment(api: docker.APIClient, base_ref: str) -> dict[str, str]:
    """What the base's python3 reports of itself (a container with no network, removed after)."""
    container = api.create_container(base_ref, command=["python3", "-c", _ENVIRONMENT_PROBE], network_disabled=True)
    try:
        api.start(container["Id"])
        status = api.wait(container["Id"], timeout=120)["StatusCode"]
        out = api.logs(container["Id"], stderr=False).decode()
        if status != 0:
            raise ImageError(f"the base's python3 failed to describe itself: {out[-500:]}", code="BASE_PYTHON")
        return dict(json.loads(out))
    finally:
        api.remove_container(container["Id"], force=True)


def _missing(wheels: list[Path], environment: dict[str, str], root: str = "arena") -> list[Requirement]:
    """What ``root`` needs in ``environment``, followed through the wheels (with the extras each is asked for),
    that has no wheel yet."""
    metadata: dict[str, Message] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
            metadata[canonicalize_name(wheel.name.split("-")[0])] = Parser().parsestr(archive.read(name).decode())
    needed: dict[str, set[str]] = {root: set()}
    queue: list[str] = [root]
    missing: dict[str, Requirement] = {}
    while queue:
        project = queue.pop()
        for line in metadata[project].get_all("Requires-Dist") or []:
            requirement = Requirement(line)
            if requirement.marker is not None and not any(
                    requirement.marker.evaluate({**environment, "extra": extra})
                    for extra in ("", *sorted(needed[project]))):
                continue
            name = canonicalize_name(requirement.name)
            if name not in metadata:
                missing.setdefault(name, requirement)
            elif name not in needed or not requirement.extras <= needed[name]:
                needed.setdefault(name, set()).update(requirement.extras)
                queue.append(name)
    return list(missing.values())


def build_wheels(dest: Path, environment: dict[str, str], progress: Progress = _quiet,
                 source: Path = ROOT) -> list[Path]:
    """Arena and every dependency the image's Python needs, as wheels in ``dest``: pip builds the closure from
    this checkout (markers as this Python sees them), then binary wheels are fetched for what the image's Python
    needs besides (a marker on its older or newer version), until nothing is missing."""
    dest.mkdir(parents=True, exist_ok=True)
    run_pip(["wheel", "--wheel-dir", str(dest), str(source)], progress)
    version = environment["python_full_version"]
    target = ["--only-binary=:all:", "--no-deps", "--python-version", version, "--implementation", "cp",
              "--abi", f"cp{environment['python_version'].replace('.', '')}",
              "--platform", f"manylinux_{environment['glibc'].replace('.', '_')}_{environment['platform_machine']}"]
    for _round in range(10):
        missing = _missing(sorted(dest.glob("*.whl")), environment)
        if not missing:
            break
        specs = [f"{r.name}{r.specifier}" for r in missing]
        run_pip(["download", "--dest", str(dest), *target, *specs], progress)
    else:
        raise ImageError("the wheels' requirements did not settle in 10 rounds", code="WHEELS_FAILED")
    wheels = sorted(dest.glob("*.whl"))
    if not any(wheel.name.startswith("arena-") for wheel in wheels):
        raise ImageError(f"pip wheel made no arena wheel in {dest}", code="WHEELS_FAILED")
    return wheels


def context(base: BaseRecipe, wheels: list[Path]) -> tuple[bytes, str]:
    """The build context (a tar) and its digest: the base recipe, the files and every wheel's content."""
    h = hashlib.sha256(f"arena-service base {base.digest()}\n".encode())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entries = [(name, directory / name) for directory, name in _FILES]
        entries += [(f"wheels/{wheel.name}", wheel) for wheel in wheels]
        for name, path in entries:
            data = path.read_bytes()
            h.update(f"{name} {hashlib.sha256(data).hexdigest()}\n".encode())
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, _MTIME
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue(), h.hexdigest()


def build_service(images_dir: Path | None = None, *, engine: docker.APIClient | None = None,
                  base: BaseTarball | None = None, save: bool = True, force: bool = False,
                  progress: Progress = _quiet) -> ServiceImage:
    """Build the service image; with ``engine`` it stays in that engine (and is saved only if ``save``),
    else a private dockerd builds it and it is saved to ``<images dir>/service/``."""
    if os.geteuid() != 0:
        raise NeedsRootError("building the service image needs root (mmdebstrap, a private dockerd)")
    started = time.monotonic()
    images = resolve_images_dir(images_dir)
    timings: dict[str, float] = {}
    if base is None:
        base = build_base(base_recipe(), images / "base", progress=progress, force=force)
    timings["base"] = base.seconds
    work = Path(tempfile.mkdtemp(prefix="arena-service-"))
    try:
        if engine is not None:
            image = _build(engine, base, work, images if save else None, progress, timings)
        else:
            with PrivateDockerd(data_root=images, progress=progress) as private:
                image = _build(private.api, base, work, images, progress, timings)
    finally:
        remove_tree(work)
    timings["total"] = time.monotonic() - started
    return ServiceImage(image[0], image[1], image[2], image[3], timings)


def _build(api: docker.APIClient, base: BaseTarball, work: Path, save_in: Path | None, progress: Progress,
           timings: dict[str, float]) -> tuple[str, tuple[str, ...], str, Path | None]:
    phase = time.monotonic()
    base_ref = import_base(api, base, progress, repository=BASE_REPOSITORY)
    environment = image_environment(api, base_ref)
    progress(f"the image's Python: {environment['python_full_version']}, glibc {environment['glibc']}")
    wheels = build_wheels(work / "wheels", environment, progress)
    timings["wheels"] = time.monotonic() - phase
    tar, digest = context(base.recipe, wheels)
    phase = time.monotonic()
    image_id = build_tagged(api, tar, REPOSITORY, digest,
                            {"BASE": base_ref, "DIGEST": digest, "VERSION": project_version()}, progress)
    timings["build"] = time.monotonic() - phase
    tags = (f"{REPOSITORY}:{project_version()}", f"{REPOSITORY}:{digest[:12]}")
    archive = None
    if save_in is not None:
        phase = time.monotonic()
        archive = _save(api, tags, save_in / "service", digest, progress)
        timings["save"] = time.monotonic() - phase
    return image_id, tags, digest, archive


def _save(api: docker.APIClient, tags: tuple[str, ...], directory: Path, digest: str, progress: Progress) -> Path:
    """``docker save`` of both tags into ``arena-service-<version>-<digest[:12]>.tar``, renamed into place."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"arena-service-{project_version()}-{digest[:12]}.tar"
    partial = final.with_suffix(".tar.partial")
    progress(f"saving {', '.join(tags)} to {final}")
    with open(partial, "wb") as out:
        for chunk in api.get_image(tags[0]):  # a repository:tag: the archive names its tag, so `docker load` tags it
            out.write(chunk)
    partial.replace(final)
    return final
