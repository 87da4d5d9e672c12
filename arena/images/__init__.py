"""Arena's runner image, built offline of any image registry and exported to a read-only rootfs.

    from arena.images import build_runner
    image = build_runner()           # cached by digest; Docker if installed, else plain Python
    image.rootfs, image.digest, image.manifest

base.py builds the Debian base tarball (mmdebstrap), dockerd.py runs a private Docker engine, runner.py
builds and exports the Dockerfile with the Docker SDK, assemble.py makes the same tree without Docker,
rootfs.py installs it atomically, build.py ties them together, cli.py is ``arena images``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arena.images.build import RunnerImage, build_runner
    from arena.images.errors import BuildStepError, ImageError
    from arena.images.rootfs import current, images_dir, read_manifest

# Loaded on first use, so that `arena --help` does not import the Docker SDK.
_EXPORTS = {"RunnerImage": "build", "build_runner": "build", "BuildStepError": "errors", "ImageError": "errors",
            "current": "rootfs", "images_dir": "rootfs", "read_manifest": "rootfs"}
__all__ = ["BuildStepError", "ImageError", "RunnerImage", "build_runner", "current", "images_dir", "read_manifest"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"arena.images.{_EXPORTS[name]}"), name)
