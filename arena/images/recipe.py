"""What a runner image is made of: its base recipe and its build context (Dockerfile, manifest script, SDK,
the pinned wheels' list).

The digest covers all of it, so the Docker build and the Docker-free assembly of the same recipe share a
digest, and a rootfs is rebuilt exactly when something that shapes it changed. The wheels themselves are not
read for it: wheels.txt pins each by its sha256, so the digest is known before (and without) downloading them.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

from arena.images.base import BaseRecipe
from arena.images.wheels import WHEELS_FILE, WheelPin, parse_pins
from sandbox.rootfs import MANIFEST

RUNNER_DIR = Path(__file__).resolve().parents[2] / "runner-images" / "python"
# Bump when arena/images/assemble.py (the Dockerfile's steps, in Python) or the export changes the result.
RUNNER_RECIPE_VERSION = 2

IMAGE_REPOSITORY = "arena/runner-python"
BASE_REPOSITORY = "arena/runner-base"
MANIFEST_PATH = f"/{MANIFEST}"  # where the sandbox reads it

# The context holds these, with fixed modes and times so that it (and each rebuild) is byte-for-byte the same.
_CONTEXT_ROOTS = ("Dockerfile", "manifest.py", WHEELS_FILE, "arena_bot")
WHEELS_DIR = "wheels"  # in the context: the pinned wheels, fetched for a build (arena/images/wheels.py)
_MTIME = 946684800  # 2000-01-01: COPY keeps it; the compiled SDK uses hash-based .pyc files anyway


@dataclass(frozen=True)
class ContextFile:
    name: str  # relative to the context root, "/"-separated
    data: bytes | None  # None for a directory


@dataclass(frozen=True)
class RunnerRecipe:
    base: BaseRecipe
    files: tuple[ContextFile, ...]

    @classmethod
    def from_dir(cls, base: BaseRecipe, context_dir: Path = RUNNER_DIR) -> RunnerRecipe:
        files: list[ContextFile] = []
        for root in _CONTEXT_ROOTS:
            path = context_dir / root
            if path.is_file():
                files.append(ContextFile(root, path.read_bytes()))
            elif path.is_dir():
                files.append(ContextFile(root, None))
                for child in sorted(path.rglob("*")):
                    if "__pycache__" in child.parts or child.suffix == ".pyc":
                        continue  # host byte-code: the image compiles its own
                    rel = child.relative_to(context_dir).as_posix()
                    files.append(ContextFile(rel, None if child.is_dir() else child.read_bytes()))
            else:
                raise FileNotFoundError(f"{path}: part of the runner image's build context")
        return cls(base, tuple(files))

    def digest(self) -> str:
        h = hashlib.sha256()
        h.update(f"arena-runner {RUNNER_RECIPE_VERSION} base {self.base.digest()}\n".encode())
        for item in self.files:
            body = "dir" if item.data is None else hashlib.sha256(item.data).hexdigest()
            h.update(f"{item.name} {body}\n".encode())
        return h.hexdigest()

    def file(self, name: str) -> bytes:
        for item in self.files:
            if item.name == name and item.data is not None:
                return item.data
        raise KeyError(name)

    @property
    def wheel_pins(self) -> tuple[WheelPin, ...]:
        return parse_pins(self.file(WHEELS_FILE).decode())

    def context_tar(self, wheels: tuple[Path, ...] | list[Path] = ()) -> bytes:
        """The build context as Docker receives it: exactly the digested files, root-owned, 0644/0755, and
        ``wheels`` (checked against the pins by arena/images/wheels.py) under wheels/."""
        buf = io.BytesIO()
        wheel_files = [ContextFile(WHEELS_DIR, None)]
        wheel_files += [ContextFile(f"{WHEELS_DIR}/{wheel.name}", wheel.read_bytes()) for wheel in wheels]
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for item in [*self.files, *wheel_files]:
                info = tarfile.TarInfo(item.name)
                info.mtime = _MTIME
                if item.data is None:
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                else:
                    info.size, info.mode = len(item.data), 0o644
                    tar.addfile(info, io.BytesIO(item.data))
        return buf.getvalue()

    @property
    def mtime(self) -> int:
        return _MTIME
