"""Where runner rootfs directories live, and how one is installed: finished in a temporary directory,
then renamed into place, then the ``python`` symlink swapped to it, each step atomic.

    <images dir>/rootfs/python-<digest[:16]>/   one per recipe; never modified once renamed into place
    <images dir>/rootfs/python -> python-<...>  the current one (ARENA_SANDBOX_ROOTFS may point here)
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from arena.images.errors import ImageError
from arena.images.fs import normalize_owner, remove_tree
from arena.images.recipe import MANIFEST_PATH
from sandbox.rootfs import images_dir as sandbox_images_dir

CURRENT = "python"


def images_dir(override: Path | None = None) -> Path:
    """``override``, else where the sandbox looks for the runner image (``$ARENA_IMAGES_DIR``)."""
    return override if override is not None else sandbox_images_dir()


def rootfs_dir(images: Path) -> Path:
    return images / "rootfs"


def rootfs_path(images: Path, digest: str) -> Path:
    return rootfs_dir(images) / f"{CURRENT}-{digest[:16]}"


def staging_dir(images: Path) -> Path:
    """A fresh directory beside the final ones (same filesystem, so the final rename is atomic)."""
    parent = rootfs_dir(images)
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{CURRENT}-", suffix=".tmp", dir=parent))


def read_manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST_PATH.lstrip("/")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ImageError(f"{root} has no readable runner manifest ({path}): {exc}", code="NO_MANIFEST") from exc
    if not isinstance(manifest, dict):
        raise ImageError(f"{path} is not a JSON object", code="NO_MANIFEST")
    return manifest


def is_complete(root: Path, digest: str) -> bool:
    """Whether ``root`` is an installed rootfs of ``digest`` (only whole trees are ever renamed into place)."""
    try:
        return read_manifest(root).get("digest") == digest
    except ImageError:
        return False


def finalize(root: Path) -> None:
    """The properties the sandbox relies on, whichever way the tree was made: every file root's and
    without setuid bits, the root directory 0755, /tmp world-writable and sticky (runc gives the tmpfs
    mounted there the mode of the directory it covers)."""
    normalize_owner(root)
    root.chmod(0o755)
    (root / "tmp").chmod(0o1777)


def install(staging: Path, images: Path, digest: str) -> Path:
    """Rename ``staging`` to its final name and make it current; return the final path."""
    final = rootfs_path(images, digest)
    try:
        staging.rename(final)
    except OSError:
        if not is_complete(final, digest):
            raise
        remove_tree(staging)  # another build of the same recipe won the race; its tree is equivalent
    point_current(images, final)
    return final


def point_current(images: Path, final: Path) -> None:
    """Swap the ``python`` symlink to ``final`` (a relative link: the images dir may be moved or bind-mounted)."""
    link = rootfs_dir(images) / CURRENT
    if link.is_symlink() and os.readlink(link) == final.name:
        return
    temp = rootfs_dir(images) / f".{CURRENT}.{os.getpid()}.link"
    temp.unlink(missing_ok=True)
    temp.symlink_to(final.name)
    os.replace(temp, link)


def current(images: Path) -> Path | None:
    """The current rootfs (the target of the ``python`` symlink), if any."""
    link = rootfs_dir(images) / CURRENT
    return link.resolve() if link.is_symlink() and link.resolve().is_dir() else None
