"""``arena images``: build the runner image offline and export it to a read-only rootfs (mounted by arena/cli.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from arena.console import fail
from arena.progress import ShowProgress, progress_console, steps

app = typer.Typer(help="The runner image bots run on: built offline of any registry, exported to a rootfs.",
                  no_args_is_help=True)
_err = Console(stderr=True, highlight=False)

ImagesDir = Annotated[Path | None, typer.Option(
    "--images-dir", help="Cache and rootfs directory (default: $ARENA_IMAGES_DIR, else /var/lib/arena/images).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object, nothing else.")]


@app.callback()
def _group() -> None:
    """The runner image bots run on."""


def _fail(exc: Exception, as_json: bool) -> typer.Exit:
    return fail(getattr(exc, "code", "IMAGE_ERROR"), str(exc), as_json)


@contextmanager
def _shown(what: str, show: bool | None, as_json: bool) -> Iterator[Callable[[str], None]]:
    """A build's progress: the latest line on a spinner (see arena.progress), and each line printed on stderr
    (the build's log) unless --json."""
    where = progress_console(show, as_json)
    log = None if as_json else where or _err
    with steps(where, f"[bold]building {what}") as step:

        def line(text: str) -> None:
            step(f"[bold]building {what}[/] [dim]{escape(text[:100])}[/]")
            if log is not None:
                log.print(f"[dim]{escape(text)}[/]", highlight=False)

        yield line


def _versions(manifest: dict[str, Any]) -> str:
    packages = manifest.get("packages", {})
    return ", ".join([f"python {manifest.get('python', '?')}", *(f"{k} {v}" for k, v in sorted(packages.items()))])


@app.command()
def build(
    docker: Annotated[bool | None, typer.Option(
        "--docker/--no-docker",
        help="Build with a private dockerd, or assemble the same tree in Python (default: Docker if installed).",
    )] = None,
    images_dir: ImagesDir = None,
    rebuild: Annotated[bool, typer.Option(
        "--rebuild", help="Ignore the caches: rebuild the base tarball (fresh security updates) and the rootfs.",
    )] = False,
    service: Annotated[bool, typer.Option(
        "--service", help="Build the service image (API, engine worker, bot host) instead, saved for `docker load`.",
    )] = False,
    as_json: AsJson = False,
    progress: ShowProgress = None,
) -> None:
    """Build the runner rootfs (cached by the recipe's digest) and make it current; print its path and digest.
    With --service, build the service image and save it as an archive under <images dir>/service."""
    import docker as docker_sdk

    from arena.images import ImageError, build_runner
    from arena.images.rootfs import images_dir as resolve
    from arena.images.rootfs import rootfs_dir

    if service:
        _build_service(images_dir, rebuild, as_json, progress)
        return

    try:
        with _shown("the runner image", progress, as_json) as shown:
            image = build_runner(images_dir, docker_engine=docker, force=rebuild, progress=shown)
    except (ImageError, docker_sdk.errors.DockerException, OSError) as exc:
        raise _fail(exc, as_json) from None
    current = rootfs_dir(resolve(images_dir)) / "python"
    if as_json:
        print(json.dumps({"rootfs": str(image.rootfs), "current": str(current), "digest": image.digest,
                          "builder": image.builder, "cached": image.cached, "manifest": image.manifest,
                          "seconds": {k: round(v, 2) for k, v in image.timings.items()}}))
        return
    how = "up to date (cached)" if image.cached else \
        f"built with {image.builder} in {image.timings.get('total', 0):.0f}s"
    out = Console(highlight=False)
    out.print(f"rootfs  {image.rootfs}  [dim]({how})[/]")
    out.print(f"digest  {image.digest}")
    out.print(f"image   {_versions(image.manifest)}")
    out.print(f"current {current}  [dim](the sandbox runs bots on it; ARENA_SANDBOX_ROOTFS points at another)[/]")


def _build_service(images_dir: Path | None, rebuild: bool, as_json: bool, show: bool | None) -> None:
    import docker as docker_sdk

    from arena.images import ImageError
    from arena.images.service import build_service

    try:
        with _shown("the service image", show, as_json) as shown:
            image = build_service(images_dir, force=rebuild, progress=shown)
    except (ImageError, docker_sdk.errors.DockerException, OSError) as exc:
        raise _fail(exc, as_json) from None
    if as_json:
        seconds = {k: round(v, 2) for k, v in image.timings.items()}
        print(json.dumps({"image": image.image_id, "tags": list(image.tags), "digest": image.digest,
                          "archive": str(image.archive), "seconds": seconds}))
        return
    out = Console(highlight=False)
    out.print(f"image   {image.image_id[:19]}  [dim](built in {image.timings.get('total', 0):.0f}s)[/]")
    out.print(f"tags    {', '.join(image.tags)}")
    out.print(f"digest  {image.digest}")
    out.print(f"archive {image.archive}  [dim](docker load < it; docs/deploy.md)[/]")


@app.command()
def info(images_dir: ImagesDir = None, as_json: AsJson = False) -> None:
    """Print the manifest of the current runner rootfs."""
    from arena.images import ImageError, current, read_manifest
    from arena.images.rootfs import images_dir as resolve

    root = current(resolve(images_dir))
    if root is None:
        where = resolve(images_dir) / "rootfs" / "python"
        raise _fail(ImageError(f"no runner rootfs at {where}: run `arena images build`", code="NO_ROOTFS"), as_json)
    try:
        manifest = read_manifest(root)
    except ImageError as exc:
        raise _fail(exc, as_json) from None
    if as_json:
        print(json.dumps({"rootfs": str(root), "manifest": manifest}))
        return
    out = Console(highlight=False)
    out.print(f"rootfs  {root}")
    for key, value in sorted(manifest.items()):
        out.print(f"{key:<12}{json.dumps(value) if isinstance(value, dict) else value}")
