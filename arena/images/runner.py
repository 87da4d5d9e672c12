"""The runner image built by Docker: import the base tarball, build the Dockerfile, export the result.

Everything goes through the Docker SDK against an engine the caller provides (normally a PrivateDockerd).
The build uses the classic builder with networking off, streams its lines to the caller and, when a step
fails, raises BuildStepError naming the step.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import docker

from arena.images.base import BaseTarball
from arena.images.errors import BuildStepError, ImageError
from arena.images.fs import extract_tar, remove_tree
from arena.images.recipe import BASE_REPOSITORY, IMAGE_REPOSITORY, RunnerRecipe

Progress = Callable[[str], None]


def project_version() -> str:
    try:
        return version("arena")
    except PackageNotFoundError:
        return "0+unknown"


def import_base(api: docker.APIClient, base: BaseTarball, progress: Progress,
                repository: str = BASE_REPOSITORY) -> str:
    """Import the base tarball as ``<repository>:<digest[:12]>`` (once per engine); return that name."""
    tag = base.digest[:12]
    ref = f"{repository}:{tag}"
    try:
        api.inspect_image(ref)
        progress(f"{ref} already imported")
        return ref
    except docker.errors.ImageNotFound:
        pass
    progress(f"importing {base.path.name} as {ref}")
    try:
        api.import_image_from_file(str(base.path), repository=repository, tag=tag)
    except docker.errors.APIError as exc:
        raise ImageError(f"docker import of {base.path} failed: {exc.explanation or exc}",
                         code="IMPORT_FAILED") from exc
    return ref


def build_image(api: docker.APIClient, recipe: RunnerRecipe, base_ref: str, progress: Progress,
                wheels: list[Path] | tuple[Path, ...] = ()) -> str:
    """Build the Dockerfile on ``base_ref`` with the pinned ``wheels`` (already fetched and checked) in its context;
    tag it with the project version and the digest; return its ID."""
    digest = recipe.digest()
    return build_tagged(api, recipe.context_tar(wheels), IMAGE_REPOSITORY, digest, {"BASE": base_ref, "DIGEST": digest},
                        progress)


def build_tagged(api: docker.APIClient, context: bytes, repository: str, digest: str, buildargs: dict[str, str],
                 progress: Progress) -> str:
    """Build a context (a tar with its Dockerfile) with networking off and no pulls; tag the image
    ``<repository>:<project version>`` and ``<repository>:<digest[:12]>``; return its ID. A failing step raises
    BuildStepError naming it."""
    tags = [f"{repository}:{project_version()}", f"{repository}:{digest[:12]}"]
    events = api.build(fileobj=io.BytesIO(context), custom_context=True, tag=tags[0], buildargs=buildargs,
                       network_mode="none", pull=False, rm=True, forcerm=True, decode=True)
    step = ""
    output: list[str] = []  # the current step's lines, for the error
    image_id: str | None = None
    try:
        for event in events:
            if "error" in event:
                detail = event.get("errorDetail", {}).get("message") or event["error"]
                raise BuildStepError(step, detail.strip(), output)
            if "aux" in event and "ID" in event["aux"]:
                image_id = event["aux"]["ID"]
            for line in event.get("stream", "").splitlines():
                if line.startswith("Step "):
                    step, output = line.strip(), []
                elif line.strip() and not line.startswith(" ---> "):
                    output.append(line.rstrip())
                if line.strip():
                    progress(line.rstrip())
    except docker.errors.APIError as exc:  # the daemon refused the build outright (bad Dockerfile syntax, ...)
        raise BuildStepError(step, str(exc.explanation or exc), output) from exc
    if image_id is None:
        raise ImageError("the build ended without an image", code="BUILD_FAILED")
    for tag in tags[1:]:
        repository, _, name = tag.rpartition(":")
        api.tag(image_id, repository, name)
    progress(f"built {image_id[:19]} tagged {', '.join(tags)}")
    return image_id


# What a container's "init layer" puts over the image: placeholders for what Docker mounts at run time.
# `docker export` includes them, shadowing the image's own files at those paths.
_INIT_LAYER = (".dockerenv", "dev/console", "dev/pts", "dev/shm", "etc/hostname", "etc/hosts", "etc/resolv.conf",
               "etc/mtab")
# Of those, what the image has (the base ships them: arena/images/base.py) and no Dockerfile step can change
# (a RUN sees Docker's mounts there): restored from the base tarball after the export.
_FROM_BASE = ("./etc/hostname", "./etc/hosts", "./etc/resolv.conf", "./etc/mtab")


def export_image(api: docker.APIClient, image: str, base: BaseTarball, dest: Path, progress: Progress) -> None:
    """Unpack the image's filesystem into ``dest`` via ``container create`` + ``export`` (never started),
    without Docker's run-time placeholders: /dev stays empty (the sandbox mounts its own) and /etc's
    hosts, hostname, resolv.conf and mtab are the image's."""
    container = api.create_container(image, network_disabled=True)["Id"]
    try:
        progress(f"exporting {image[:19]} to {dest}")
        extract_tar(api.export(container), dest)
    finally:
        api.remove_container(container, force=True)
    for name in _INIT_LAYER:
        remove_tree(dest / name)
    extract_tar(base.path, dest, members=_FROM_BASE)
